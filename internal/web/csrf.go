package web

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

// maxFormBytes bounds the forms this package parses.
const maxFormBytes = 1 << 20

// checkCSRF refuses unsafe requests that do not prove they come from one of
// our own pages.
func (u *UI) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			next.ServeHTTP(w, r)
			return
		}
		got := r.Header.Get("X-CSRF-Token")
		if got == "" {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			got = r.PostFormValue("csrf_token")
		}
		if !u.csrfValid(r, got) {
			u.renderMessage(w, r, http.StatusForbidden, "", message{
				Heading: "Request refused",
				Text:    "The form's security token was missing or out of date. Go back, reload the page and try again.",
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// csrfValid compares got with the session's token when there is a valid
// session, else with the double-submit cookie. The login form always uses
// the latter: it is rendered before any session exists.
func (u *UI) csrfValid(r *http.Request, got string) bool {
	if got == "" {
		return false
	}
	if r.URL.Path != "/login" {
		if want, ok := u.sessionCSRF(r); ok {
			return tokensEqual(got, want)
		}
	}
	c, err := r.Cookie(PreCSRFCookie)
	return err == nil && validToken(c.Value) && tokensEqual(got, c.Value)
}

func tokensEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// sessionCSRF looks up the CSRF token of the request's session, if valid.
func (u *UI) sessionCSRF(r *http.Request) (string, bool) {
	if u.sessions == nil {
		return "", false
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	_, csrf, err := u.sessions.SessionActor(r.Context(), c.Value)
	if err != nil || csrf == "" {
		return "", false
	}
	return csrf, true
}

// formToken is the CSRF token to put in a page's forms: the session's for a
// session user (from the cookie set at login, so a page view costs no
// lookup), else the double-submit token.
func (u *UI) formToken(w http.ResponseWriter, r *http.Request, signedIn bool) string {
	if signedIn && u.sessions != nil {
		if _, err := r.Cookie(SessionCookie); err == nil {
			if c, err := r.Cookie(CSRFCookie); err == nil && c.Value != "" {
				return c.Value
			}
			if csrf, ok := u.sessionCSRF(r); ok { // the CSRF cookie was lost
				return csrf
			}
		}
	}
	return u.preToken(w, r)
}

// preToken returns the double-submit token, setting its cookie when the
// browser has none.
func (u *UI) preToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(PreCSRFCookie); err == nil && validToken(c.Value) {
		return c.Value
	}
	t := rand.Text()
	setCookie(w, r, PreCSRFCookie, t, true)
	return t
}

// validToken accepts what rand.Text makes, and nothing a cookie-injecting
// attacker could use to smuggle markup.
func validToken(s string) bool {
	if len(s) < 20 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// setCookie sets a browser-session cookie for the whole site. Secure when
// the request came over TLS, directly or through a TLS-terminating proxy
// (trusting that header can at worst stop this one client's cookie from
// being sent over plain HTTP).
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, httpOnly bool) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: httpOnly,
		Secure:   r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
		SameSite: http.SameSiteLaxMode,
	})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name string, httpOnly bool) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: httpOnly,
		Secure:   r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
		SameSite: http.SameSiteLaxMode,
	})
}

// safeNext returns next if it is a path on this site, else "/": the login
// redirect must not become an open redirect.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return "/"
	}
	for _, c := range next {
		// Browsers drop tabs and newlines from URLs: "/\t/evil" becomes "//evil".
		if c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	p, err := url.Parse(next)
	if err != nil || p.Scheme != "" || p.Host != "" || p.User != nil || p.Path == "/login" {
		return "/"
	}
	return next
}
