package app

import "testing"

func TestSourceURI(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`mlcycle://iris@3`, "mlcycle://iris@3"},
		{` mlcycle://iris@prod `, "mlcycle://iris@prod"},
		{`{"uri": "mlcycle://iris@3"}`, "mlcycle://iris@3"},
		{`{"url": "https://example.com/x.csv"}`, "https://example.com/x.csv"},
		{`{"path": "/data/x.csv", "uri": ""}`, "/data/x.csv"},
		{`{"tags": {}}`, `{"tags": {}}`},
		{`{not json`, `{not json`},
		{``, ``},
	} {
		if got := sourceURI(tc.in); got != tc.want {
			t.Errorf("sourceURI(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
