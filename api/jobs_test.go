package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/tenant"
)

// getJSON sends an authenticated GET and returns the status and body.
func getJSON(t *testing.T, base, token, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestJobsAPI: admins see their own tenant's jobs (newest first, no
// payload or cursor); sales users are refused; another tenant's job is
// not found.
func TestJobsAPI(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			ctx := context.Background()
			acme, globex := srv.NewTenant(t, "acme"), srv.NewTenant(t, "globex")
			sales, _ := srv.NewUser(t, acme, "sales@acme.example.com", "Sam Sales", "sales")
			q := srv.App.Jobs

			secret := map[string]string{"email": "payload-secret@example.com"}
			older, err := q.Enqueue(ctx, tenant.ID(acme.ID), "test.fails", secret, "u1", jobs.EnqueueOptions{})
			if err != nil {
				t.Fatal(err)
			}
			newer, err := q.Enqueue(ctx, tenant.ID(acme.ID), "test.idle", secret, "u1", jobs.EnqueueOptions{})
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := q.Enqueue(ctx, tenant.ID(globex.ID), "test.idle", nil, "u2", jobs.EnqueueOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Run the failing job to the end on a worker of our own (the
			// server's has no handler for these kinds, so leaves them).
			w := jobs.NewWorker(q, jobs.WorkerOptions{ID: "test", MaxAttempts: 1, Heartbeat: -1})
			w.Handle("test.fails", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
				if err := p.Save(ctx, "cursor-secret", 1, 4); err != nil {
					return err
				}
				return apperr.Invalid("the export format is not supported").Wrap(errors.New("pq: hidden"))
			})
			if ran, err := w.RunOnce(ctx); !ran || err != nil {
				t.Fatalf("RunOnce: %v %v", ran, err)
			}

			status, body := getJSON(t, srv.URL, acme.Admin.Token(), "/api/v1/jobs")
			if status != http.StatusOK {
				t.Fatalf("admin list: %d %s", status, body)
			}
			for _, leak := range []string{"payload-secret", "cursor-secret", "pq: hidden", "payload", "cursor"} {
				if strings.Contains(string(body), leak) {
					t.Fatalf("job list shows %q: %s", leak, body)
				}
			}
			var list api.JobList
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 2 || list.Items[0].ID != newer.ID || list.Items[1].ID != older.ID {
				t.Fatalf("admin list (want acme's two, newest first): %s", body)
			}
			failed := list.Items[1]
			if failed.State != "failed" || failed.Error != "the export format is not supported" || failed.Kind != "test.fails" ||
				failed.Total != 4 || failed.Done != 1 || failed.Percent != 25 || failed.FinishedAt == nil || failed.CreatedAt.IsZero() {
				t.Fatalf("failed job: %+v", failed)
			}
			if q := list.Items[0]; q.State != "queued" || q.Percent != 0 || q.Error != "" || q.FinishedAt != nil {
				t.Fatalf("queued job: %+v", q)
			}
			// Exactly the documented fields.
			var raw struct {
				Items []map[string]json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k := range raw.Items[1] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			want := []string{"created_at", "done", "error", "finished_at", "id", "kind", "percent", "state", "total", "updated_at"}
			if !slices.Equal(keys, want) {
				t.Fatalf("job fields %v, want %v", keys, want)
			}

			status, body = getJSON(t, srv.URL, acme.Admin.Token(), "/api/v1/jobs?limit=1")
			if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil || len(list.Items) != 1 || list.Items[0].ID != newer.ID {
				t.Fatalf("limit 1: %d %s", status, body)
			}
			for _, bad := range []string{"?limit=0", "?limit=201", "?limit=x", "?state=failed"} {
				if status, body := getJSON(t, srv.URL, acme.Admin.Token(), "/api/v1/jobs"+bad); status != http.StatusBadRequest {
					t.Errorf("%s: %d %s", bad, status, body)
				}
			}

			status, body = getJSON(t, srv.URL, acme.Admin.Token(), "/api/v1/jobs/"+older.ID)
			var one api.JobDTO
			if err := json.Unmarshal(body, &one); status != http.StatusOK || err != nil || one.ID != older.ID || one.State != "failed" {
				t.Fatalf("admin get: %d %s", status, body)
			}
			for _, id := range []string{theirs.ID, "0190b6a0-0000-7000-8000-000000000001", "nope"} {
				if status, body := getJSON(t, srv.URL, acme.Admin.Token(), "/api/v1/jobs/"+id); status != http.StatusNotFound {
					t.Errorf("acme's admin gets job %s: %d %s", id, status, body)
				}
			}
			status, body = getJSON(t, srv.URL, globex.Admin.Token(), "/api/v1/jobs")
			if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil || len(list.Items) != 1 || list.Items[0].ID != theirs.ID {
				t.Fatalf("globex's list: %d %s", status, body)
			}

			for _, path := range []string{"/api/v1/jobs", "/api/v1/jobs/" + older.ID} {
				status, body := getJSON(t, srv.URL, sales.Token(), path)
				if status != http.StatusForbidden || strings.Contains(string(body), older.ID) {
					t.Errorf("sales GET %s: %d %s", path, status, body)
				}
			}
		})
	}
}
