package web

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/mlcycle/mlcycle/internal/actor"
)

type navItem struct {
	Label, Href string
	Active      bool
}

// navItems lists the top navigation; Audit is for admins only. Sections not
// built yet still appear, and answer with a friendly 404 page.
func navItems(role, section string) []navItem {
	items := []navItem{
		{Label: "Home", Href: "/"},
		{Label: "Experiments", Href: "/experiments"},
		{Label: "Models", Href: "/models"},
		{Label: "Datasets", Href: "/datasets"},
		{Label: "Deployments", Href: "/deployments"},
		{Label: "Monitoring", Href: "/monitoring"},
	}
	if role == "admin" {
		items = append(items, navItem{Label: "Audit", Href: "/audit"})
	}
	for i := range items {
		items[i].Active = items[i].Href == section
	}
	return items
}

// sectionOf is the nav item a path belongs to, or "".
func sectionOf(path string) navItem {
	for _, it := range navItems("admin", "") {
		if it.Href != "/" && (path == it.Href || strings.HasPrefix(path, it.Href+"/")) {
			return it
		}
	}
	return navItem{}
}

// page is what the layout template needs, plus a page's own Data.
type page struct {
	Title       string
	User        actor.Actor
	SignedIn    bool
	AuthEnabled bool
	CSRF        string
	Nav         []navItem
	Data        any
}

// newPage fills in the user, navigation and CSRF token for a request.
// Call it before writing anything: it may set the CSRF cookie.
func (u *UI) newPage(w http.ResponseWriter, r *http.Request, title, section string, data any) page {
	p := u.basePage(r, title, section, data)
	p.CSRF = u.formToken(w, r, p.SignedIn)
	return p
}

// basePage is newPage without the CSRF token.
func (u *UI) basePage(r *http.Request, title, section string, data any) page {
	user, signedIn := u.currentUser(r)
	p := page{Title: title, User: user, SignedIn: signedIn, AuthEnabled: u.sessions != nil, Data: data}
	if signedIn {
		p.Nav = navItems(user.Role, section)
	}
	return p
}

type message struct {
	Heading, Text string
}

// renderMessage answers with a short message in the layout: 404s, refused
// forms, failures.
func (u *UI) renderMessage(w http.ResponseWriter, r *http.Request, status int, section string, m message) {
	u.render(w, r, status, "message.html", u.newPage(w, r, m.Heading, section, m))
}

// render executes a page into memory first, so a template error becomes a
// clean 500 rather than half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	var buf bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		u.log.ErrorContext(r.Context(), "rendering page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store") // pages carry CSRF tokens and user data
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; "+
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
