package web

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mlcycle/mlcycle/internal/errs"
)

type homeView struct {
	Status      *Status // nil when the app gave no status function
	Uptime      string
	TrackingURI string
}

func (u *UI) home(w http.ResponseWriter, r *http.Request) {
	v := homeView{TrackingURI: baseURL(r)}
	if u.status != nil {
		st := u.status(r.Context())
		v.Status, v.Uptime = &st, formatUptime(st.Uptime)
	}
	u.render(w, r, http.StatusOK, "home.html", u.newPage(w, r, "Home", "/", v))
}

// baseURL is how this browser reached the server, for the "connect a client"
// hint. Host passed httpapi's allowlist.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func formatUptime(d time.Duration) string {
	d = d.Round(time.Second)
	days, hours, mins := int(d.Hours())/24, int(d.Hours())%24, int(d.Minutes())%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm %ds", mins, int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

func (u *UI) notFound(w http.ResponseWriter, r *http.Request) {
	m := message{Heading: "Page not found", Text: "There is no page at this address."}
	section := sectionOf(r.URL.Path)
	if section.Href != "" && !u.sectionBuilt(section.Href) {
		m = message{Heading: section.Label, Text: section.Label + " will arrive in a later release of mlcycle."}
	}
	u.renderMessage(w, r, http.StatusNotFound, section.Href, m)
}

// sectionBuilt reports whether a nav section has pages on this server.
func (u *UI) sectionBuilt(href string) bool {
	switch href {
	case "/experiments":
		return u.tracking != nil
	case "/models":
		return u.registry != nil
	case "/datasets":
		return u.datasets != nil
	}
	return false
}

type loginView struct {
	Error    string
	Username string
	Next     string
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := u.currentUser(r); ok { // signed in already, or auth off
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	u.renderLogin(w, r, http.StatusOK, loginView{Next: next})
}

func (u *UI) renderLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	p := u.basePage(r, "Sign in", "", v)
	p.CSRF = u.preToken(w, r) // the login form predates any session
	u.render(w, r, status, "login.html", p)
}

// login checks the password, starts a session and returns to next.
// checkCSRF has already verified the form's double-submit token.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	if u.sessions == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	v := loginView{Username: strings.TrimSpace(r.PostFormValue("username")), Next: next}
	pass := r.PostFormValue("password")
	if v.Username == "" || pass == "" {
		v.Error = "Enter your username and password."
		u.renderLogin(w, r, http.StatusOK, v)
		return
	}
	act, err := u.sessions.AuthenticatePassword(ctx, v.Username, pass, clientAddr(r))
	if err != nil {
		status := http.StatusOK
		switch errs.CodeOf(err) {
		case errs.Unauthorized, errs.Forbidden, errs.NotFound, errs.Invalid:
			// One message for every reason, so it reveals nothing about accounts.
			v.Error = "Invalid username or password."
		case errs.TooMany:
			status, v.Error = http.StatusTooManyRequests, errs.MessageOf(err)
		default:
			u.log.ErrorContext(ctx, "sign-in failed", "err", err, "user", v.Username)
			status, v.Error = http.StatusServiceUnavailable, "Signing in is not possible right now. Try again later."
		}
		u.renderLogin(w, r, status, v)
		return
	}
	token, csrf, err := u.sessions.CreateSession(ctx, act.UserID)
	if err != nil {
		u.log.ErrorContext(ctx, "creating session", "err", err, "user", act.Name)
		v.Error = "Signing in is not possible right now. Try again later."
		u.renderLogin(w, r, http.StatusServiceUnavailable, v)
		return
	}
	// A new session replaces any other this browser held.
	if old, err := r.Cookie(SessionCookie); err == nil && old.Value != "" && old.Value != token {
		if err := u.sessions.DeleteSession(ctx, old.Value); err != nil && !errs.Is(err, errs.NotFound) && !errs.Is(err, errs.Unauthorized) {
			u.log.WarnContext(ctx, "deleting the previous session", "err", err)
		}
	}
	setCookie(w, r, SessionCookie, token, true)
	setCookie(w, r, CSRFCookie, csrf, false)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session; checkCSRF has verified the session's token.
func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	if u.sessions == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	var failed error
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		err := u.sessions.DeleteSession(r.Context(), c.Value)
		if err != nil && !errs.Is(err, errs.NotFound) && !errs.Is(err, errs.Unauthorized) {
			failed = err
		}
	}
	clearCookie(w, r, SessionCookie, true)
	clearCookie(w, r, CSRFCookie, false)
	if failed != nil {
		u.log.ErrorContext(r.Context(), "deleting session", "err", failed)
		u.renderMessage(w, r, http.StatusInternalServerError, "", message{
			Heading: "Sign-out incomplete",
			Text:    "This browser is signed out, but the server could not end the session; it will expire on its own.",
		})
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// serveStatic serves embedded assets. A request naming the current content
// hash may be cached for good; any other must revalidate.
func (u *UI) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	version, ok := u.versions[name]
	if !ok {
		u.notFound(w, r)
		return
	}
	h := w.Header()
	if r.URL.Query().Get("v") == version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+version+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeFileFS(w, r, u.static, name)
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
