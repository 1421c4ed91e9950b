package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/export"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/internal/testenv"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/server"
	"github.com/havencrm/haven/tenant"
)

// The benchmark of issue 7 item 7: a full export of N contacts (two of
// their fields encrypted) against `sqlite3 .dump` of the same database,
// as a time ratio, and the export's peak RSS, measured in a child process
// so that seeding and the test binary's other work do not count.
//
//	HAVEN_BENCH_EXPORT_RECORDS=10000,100000 go test ./export -run '^$' -bench FullExport -benchtime 1x
//
// The sizes are a comma-separated list (default 10000).

const (
	envBenchRecords = "HAVEN_BENCH_EXPORT_RECORDS"
	envBenchChild   = "HAVEN_BENCH_EXPORT_CHILD"
	benchSlug       = "bench"
)

func benchConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 8192, 1
	return cfg
}

func BenchmarkFullExport(b *testing.B) {
	sizes := []int{10000}
	if v := os.Getenv(envBenchRecords); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				b.Fatalf("%s: %q is not a positive number", envBenchRecords, s)
			}
			sizes = append(sizes, n)
		}
	}
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		testenv.SkipOrFail(b, "sqlite3 is not installed (apt-get install -y sqlite3)")
	}
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			dir := b.TempDir()
			start := time.Now()
			seed(b, dir, n)
			b.Logf("seeded %d contacts in %s", n, time.Since(start).Round(time.Millisecond))
			db := filepath.Join(dir, "haven.db")
			st, _ := os.Stat(db)
			b.ResetTimer()
			for range b.N {
				res := runChild(b, dir)
				// The same database, dumped as SQL text.
				t0 := time.Now()
				cmd := exec.Command(sqlite3, "-readonly", db, ".dump")
				cmd.Stdout = io.Discard
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					b.Fatalf("sqlite3 .dump: %v: %s", err, stderr.String())
				}
				dump := time.Since(t0).Seconds()
				b.ReportMetric(res.Seconds, "export_s")
				b.ReportMetric(dump, "dump_s")
				b.ReportMetric(res.Seconds/dump, "ratio")
				b.ReportMetric(float64(res.PeakKiB)/1024, "peak_rss_MiB")
				b.ReportMetric(float64(res.BaseKiB)/1024, "base_rss_MiB")
				b.ReportMetric(float64(res.MaxrssKiB)/1024, "maxrss_MiB")
				b.ReportMetric(float64(res.Records), "records")
				b.Logf("N=%d db=%d MiB: export %.2fs (file %d KiB), sqlite3 .dump %.2fs, ratio %.2f; RSS before export %d MiB, peak during export %d MiB (getrusage maxrss of the whole child %d MiB)",
					n, st.Size()>>20, res.Seconds, res.FileBytes>>10, dump, res.Seconds/dump, res.BaseKiB>>10, res.PeakKiB>>10, res.MaxrssKiB>>10)
			}
		})
	}
}

// seed provisions the tenant and writes n contacts straight through the
// store in transactions of 10,000, sealing the encrypted fields as the
// records service would (Create, with its per-record audit event, would
// take far longer for a million).
func seed(b *testing.B, dir string, n int) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app, err := server.OpenApp(ctx, benchConfig(dir), log)
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	res, err := app.Provisioner.CreateTenant(ctx, provision.Input{Slug: benchSlug, Name: "Bench", AdminEmail: "admin@bench.example.com"})
	if err != nil {
		b.Fatal(err)
	}
	tid := res.Tenant.ID
	now := time.Now().UTC().Truncate(time.Microsecond)
	const tx = 10000
	for lo := 0; lo < n; lo += tx {
		err := app.DB.WriteTx(ctx, tid, func(ctx context.Context) error {
			for i := lo; i < min(lo+tx, n); i++ {
				id := tenant.NewID()
				fields := map[string]any{
					"name":        fmt.Sprintf("联系人 %07d", i),
					"title":       "销售经理",
					"phone":       "+86 21 6888 1234",
					"description": "Long-standing customer; renewal due in Q3. 长期客户，第三季度续约。",
				}
				for f, v := range map[string]string{"mobile": fmt.Sprintf("139%08d", i), "email": fmt.Sprintf("c%d@example.com", i)} {
					pt, _ := json.Marshal(v)
					env, err := fieldcrypt.Encrypt(ctx, app.Keyring, fieldcrypt.Binding{Tenant: tid, Object: "contact", RecordID: id, Field: f}, pt)
					if err != nil {
						return err
					}
					fields[f] = map[string]any{"$sealed": env}
				}
				if err := app.DB.InsertRecord(ctx, tid, records.Record{ID: id, Object: "contact", Version: 1, OwnerID: res.Admin.ID,
					Name: fields["name"].(string), Fields: fields, CreatedAt: now, UpdatedAt: now, CreatedBy: res.Admin.ID, UpdatedBy: res.Admin.ID}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

type childResult struct {
	Seconds   float64 `json:"seconds"`
	Records   int64   `json:"records"`
	FileBytes int64   `json:"file_bytes"`
	BaseKiB   int64   `json:"base_kib"`
	PeakKiB   int64   `json:"peak_kib"`
	// MaxrssKiB is getrusage's peak over the whole child, start-up
	// included (clear_refs does not reset it).
	MaxrssKiB int64 `json:"maxrss_kib"`
}

func runChild(b *testing.B, dir string) childResult {
	args := []string{"-test.run=^TestBenchExportChild$", "-test.count=1"}
	if p := os.Getenv("HAVEN_BENCH_EXPORT_CPUPROFILE"); p != "" {
		// Where the time goes: go tool pprof -top FILE.
		args = append(args, "-test.cpuprofile="+p)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envBenchChild+"="+dir)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("child: %v\n%s\n%s", err, out.String(), stderr.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "BENCH-RESULT "); ok {
			var r childResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				b.Fatal(err)
			}
			return r
		}
	}
	b.Fatalf("child printed no result:\n%s\n%s", out.String(), stderr.String())
	return childResult{}
}

func maxRSSKiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Maxrss // KiB on Linux
}

// TestBenchExportChild is the benchmark's child process: it opens the
// seeded data directory, runs one full export to the end on its own
// worker and prints the time and peak RSS. Skipped unless the benchmark
// started it.
func TestBenchExportChild(t *testing.T) {
	dir := os.Getenv(envBenchChild)
	if dir == "" {
		t.Skip("run by BenchmarkFullExport")
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app, err := server.OpenApp(ctx, benchConfig(dir), log)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	tn, err := app.DB.TenantBySlug(ctx, benchSlug)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := app.DB.UserByLogin(ctx, tn.ID, "admin@bench.example.com")
	if err != nil {
		t.Fatal(err)
	}
	actor := tenant.Actor{Kind: tenant.ActorUser, TenantID: tn.ID, UserID: admin.ID, Name: admin.Name, Role: access.RoleAdmin}
	// Reset the peak to what the process holds now (Linux: "5" to
	// clear_refs resets VmHWM), so the peak read after the export is the
	// export's own, not the start-up's (migrations, templates).
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	base := vmKiB("VmRSS:")
	start := time.Now()
	e, err := app.Exports.Start(ctx, actor, export.Request{Scope: export.ScopeAll})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ran, err := app.Worker.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ran {
			break
		}
	}
	elapsed := time.Since(start)
	got, err := app.Exports.Get(ctx, actor, e.ID)
	if err != nil || got.Status != export.StatusDone {
		t.Fatalf("export: %+v %v", got, err)
	}
	r := childResult{Seconds: elapsed.Seconds(), Records: got.RecordsDone, FileBytes: got.Size, BaseKiB: base, PeakKiB: vmKiB("VmHWM:"), MaxrssKiB: maxRSSKiB()}
	raw, _ := json.Marshal(r)
	fmt.Printf("BENCH-RESULT %s\n", raw)
}

// vmKiB reads one of the process's memory figures (VmRSS: now, VmHWM:
// the peak since start or the last clear_refs reset) from
// /proc/self/status, in KiB; -1 when unavailable.
func vmKiB(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return -1
}
