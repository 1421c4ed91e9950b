package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/tenant"
)

// fixedClock is a server clock the test moves by hand.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	captchaIDPattern  = regexp.MustCompile(`name="captcha_id" value="([A-Za-z0-9_-]{43})"`)
	captchaImgPattern = regexp.MustCompile(`<img src="(/api/v1/auth/captcha/[A-Za-z0-9_-]{43}\.png)"`)
)

func captchaOnPage(t *testing.T, p page) string {
	t.Helper()
	m := captchaIDPattern.FindStringSubmatch(p.Body)
	if m == nil || !captchaImgPattern.MatchString(p.Body) {
		t.Fatalf("%s: no CAPTCHA on the page:\n%s", p.URL, truncate(p.Body, 3000))
	}
	return m[1]
}

// TestLockoutPages drives the sign-in page through the CAPTCHA step-up
// and the lock, and the users page through an unlock, as a browser
// without JavaScript.
func TestLockoutPages(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			clk := &fixedClock{t: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)}
			srv := testserver.Start(t, engine, testserver.Options{Now: clk.Now})
			t.Cleanup(http.DefaultClient.CloseIdleConnections)
			tn := srv.NewTenant(t, "lockweb")
			_, carol := srv.NewUser(t, tn, "carol@lockweb.example.com", "Carol Chen", "sales")

			// attempt signs in as Carol like a person would: answering the
			// CAPTCHA the previous page showed, if any.
			var last page
			attempt := func(b *browser, password string) page {
				t.Helper()
				form := url.Values{"tenant": {tn.Slug}, "login": {carol.Email}, "password": {password}}
				if m := captchaIDPattern.FindStringSubmatch(last.Body); m != nil {
					form.Set("captcha_id", m[1])
					form.Set("captcha_answer", srv.CaptchaAnswer(t, m[1]))
				}
				last = b.submit("/login", "/login", form)
				return last
			}

			b := newBrowser(t, srv.URL)
			for i := 1; i <= 3; i++ {
				p := b.login(tn.Slug, carol.Email, "Wrong-Password-1")
				wantStatus(t, p, http.StatusUnauthorized)
				wantContains(t, p, "The organization, login or password is incorrect.")
				if i < 3 {
					wantNotContains(t, p, `name="captcha_id"`)
				} else {
					// The third failure hands out the CAPTCHA the next try needs.
					captchaOnPage(t, p)
				}
			}
			// A 4th attempt without it is asked for one.
			p := b.login(tn.Slug, carol.Email, adminPassword)
			wantStatus(t, p, http.StatusUnauthorized)
			wantContains(t, p, "Please type the digits in the picture and sign in again.", `id="captcha_answer"`, `inputmode="numeric"`)
			id := captchaOnPage(t, p)
			img := b.get(captchaImgPattern.FindStringSubmatch(p.Body)[1])
			if img.Status != http.StatusOK || img.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(img.Body, "\x89PNG") {
				t.Fatalf("captcha image: %d %s", img.Status, img.Header.Get("Content-Type"))
			}
			// A wrong answer: a new picture.
			p = b.submit("/login", "/login", url.Values{"tenant": {tn.Slug}, "login": {carol.Email}, "password": {adminPassword},
				"captcha_id": {id}, "captcha_answer": {"0"}})
			wantStatus(t, p, http.StatusUnauthorized)
			wantContains(t, p, "The digits did not match the picture.")
			id2 := captchaOnPage(t, p)
			if id2 == id {
				t.Fatal("the same challenge again")
			}
			// The right answer with the right password signs in.
			p = b.submit("/login", "/login", url.Values{"tenant": {tn.Slug}, "login": {carol.Email}, "password": {adminPassword},
				"captcha_id": {id2}, "captcha_answer": {srv.CaptchaAnswer(t, id2)}})
			wantStatus(t, p, http.StatusOK)
			wantPath(t, p, "/")

			// Five failures (the last two with solved CAPTCHAs) lock the
			// account; the page says until when, in the reader's language
			// and time zone.
			attacker := newBrowser(t, srv.URL)
			for i := 1; i <= 4; i++ {
				wantStatus(t, attempt(attacker, "Wrong-Password-2"), http.StatusUnauthorized)
			}
			p = attempt(attacker, "Wrong-Password-2")
			wantStatus(t, p, http.StatusLocked)
			wantContains(t, p, "this account is locked until 1 Mar 2026, 02:30")
			wantNotContains(t, p, `name="captcha_id"`)
			zh := newBrowser(t, srv.URL)
			zh.lang = "zh-CN"
			p = zh.login(tn.Slug, carol.Email, adminPassword)
			wantStatus(t, p, http.StatusLocked)
			wantContains(t, p, "该账号已锁定至 2026年3月1日 10:30")

			// The admin sees the lock and clears it.
			admin := newBrowser(t, srv.URL)
			admin.login(tn.Slug, tn.AdminLogin, adminPassword)
			p = admin.get("/users")
			wantContains(t, p, "Locked until 1 Mar 2026, 02:30", `action="/users/`+carol.ID+`/unlock"`, "Clear the failed sign-ins and the lock of Carol Chen?")
			// Without the CSRF token nothing happens.
			p = admin.post("/users/"+carol.ID+"/unlock", url.Values{})
			wantStatus(t, p, http.StatusForbidden)
			p = admin.submit("/users", "/users/"+carol.ID+"/unlock", url.Values{})
			wantPath(t, p, "/users")
			wantContains(t, p, "User unlocked")
			wantNotContains(t, p, "Locked until", `action="/users/`+carol.ID+`/unlock"`)
			evs, err := srv.App.DB.QueryAudit(context.Background(), tenant.ID(tn.ID), audit.Filter{Action: identity.ActionUnlocked, Limit: 5})
			if err != nil || len(evs) != 1 || evs[0].ObjectID != carol.ID {
				t.Fatalf("unlock events %+v %v", evs, err)
			}
			// Carol signs in at once, without a CAPTCHA.
			p = newBrowser(t, srv.URL).login(tn.Slug, carol.Email, adminPassword)
			wantPath(t, p, "/")

			// Until-an-admin locks say so.
			srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) { s.LockoutMinutes = 0 })
			last = page{}
			for i := 1; i <= 5; i++ {
				p = attempt(attacker, "Wrong-Password-3")
			}
			wantStatus(t, p, http.StatusLocked)
			wantContains(t, p, "this account is locked until an administrator unlocks it")
			wantContains(t, admin.get("/users"), ">Locked<")
		})
	}
}
