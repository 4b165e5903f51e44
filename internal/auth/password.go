package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// HashParams are the argon2id costs of new password hashes. Stored hashes
// carry their own costs, so changing these never locks anyone out.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8
}

// DefaultHashParams returns OWASP's recommended argon2id minimum: 19 MiB,
// 2 passes, 1 thread (about 20-40 ms per hash on a server core).
func DefaultHashParams() HashParams {
	return HashParams{Memory: 19 * 1024, Time: 2, Threads: 1}
}

const (
	saltLen        = 16
	keyLen         = 32
	minPasswordLen = 8    // characters
	maxPasswordLen = 1024 // bytes; longer only costs hashing time
)

func checkPassword(pw string) error {
	if utf8.RuneCountInString(pw) < minPasswordLen {
		return errs.E(errs.Invalid, "password is too short: use at least %d characters", minPasswordLen)
	}
	if len(pw) > maxPasswordLen {
		return errs.E(errs.Invalid, "password is too long: use at most %d bytes", maxPasswordLen)
	}
	return nil
}

// hashPassword returns a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, base64 without padding.
func hashPassword(pw string, p HashParams) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // never fails (crypto/rand crashes the program instead)
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// verifyPassword reports whether pw matches the PHC string encoded, in time
// that does not depend on where they differ. An error means encoded is not
// a hash this code wrote.
func verifyPassword(encoded, pw string) (bool, error) {
	bad := errors.New("password hash is not a valid argon2id PHC string")
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, bad
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, bad
	}
	var p HashParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, bad
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 ||
		p.Time < 1 || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) {
		return false, bad
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}
