package filter

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// maxTokenLen bounds what DecodePageToken reads; real tokens are ~20 bytes.
const maxTokenLen = 256

// EncodePageToken returns the opaque token for the page that starts at
// offset: base64url of {"offset":N}, the shape MLflow uses too.
func EncodePageToken(offset int64) string {
	return base64.URLEncoding.EncodeToString([]byte(`{"offset":` + strconv.FormatInt(offset, 10) + `}`))
}

// DecodePageToken returns the offset in a token from EncodePageToken; "" is
// the first page. Standard base64 is accepted too, as MLflow servers emit it.
func DecodePageToken(tok string) (int64, error) {
	if tok == "" {
		return 0, nil
	}
	invalid := errs.E(errs.Invalid, "invalid page_token")
	if len(tok) > maxTokenLen {
		return 0, invalid
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if raw, err = enc.DecodeString(tok); err == nil {
			break
		}
	}
	if err != nil {
		return 0, invalid
	}
	var v struct {
		Offset *int64 `json:"offset"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.Offset == nil || *v.Offset < 0 {
		return 0, invalid
	}
	return *v.Offset, nil
}
