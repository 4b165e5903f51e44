package auth

import (
	"strings"

	"github.com/mlcycle/mlcycle/internal/errs"
)

// Role is what a user may do. Each role includes the ones below it:
// viewer < editor < admin.
type Role string

const (
	Viewer Role = "viewer" // reads everything
	Editor Role = "editor" // also creates and changes runs, models, data, pipelines, deployments
	Admin  Role = "admin"  // also manages users and reads the audit log
)

// ParseRole reads a role name, ignoring case and surrounding space.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if r.rank() == 0 {
		return "", errs.E(errs.Invalid, "unknown role %q: use admin, editor or viewer", s)
	}
	return r, nil
}

// Allows reports whether r may do what needs the role need. An unknown role
// allows nothing and is allowed by nothing.
func (r Role) Allows(need Role) bool {
	return need.rank() > 0 && r.rank() >= need.rank()
}

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Editor:
		return 2
	case Admin:
		return 3
	}
	return 0
}
