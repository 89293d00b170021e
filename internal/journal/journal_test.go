package journal_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func open(t *testing.T, path string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(context.Background(), path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// manifest is a realistic image manifest body (about 1 KiB) for entry n.
func manifest(n int) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":1470},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":3623807},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":27298424},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":1288}],"annotations":{"org.opencontainers.image.created":"2026-11-01T00:00:00Z","org.opencontainers.image.revision":"%040x","org.opencontainers.image.source":"https://gitlab.example.com/group/app"}}`,
		n, n+1, n+2, n+3, n)
}

func entry(run, repo string, n int) journal.Entry {
	body := manifest(n)
	return journal.Entry{
		RunID: run, Repository: repo, Kind: journal.KindManifest, Digest: registry.Sha256(body),
		MediaType: "application/vnd.oci.image.manifest.v1+json", Manifest: body, Tags: []string{strconv.Itoa(10000 + n)},
		ItemKind: "image", Reason: "delete: not among the 5 newest; older than 30d",
	}
}

func TestJournalRecordAndRead(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state", "regprune")
	path := filepath.Join(dir, "journal.db")
	j := open(t, path)
	for p, want := range map[string]fs.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	run := journal.NewRunID(t0)
	if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	e := entry(run, "registry.example.com/group/app", 1)
	id, err := j.Record(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	// Written ahead: a second connection sees it pending.
	ro, err := journal.Open(ctx, path, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	es, err := ro.Entries(ctx, run, journal.Filter{WithManifests: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Result != journal.ResultPending || string(es[0].Manifest) != string(e.Manifest) || es[0].Registry != "registry.example.com" {
		t.Fatalf("entries %+v", es)
	}
	if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Record(ctx, journal.Entry{RunID: run, Repository: e.Repository, Kind: journal.KindTag, Tag: "latest", Digest: e.Digest}); err != nil {
		t.Fatal(err)
	}
	if err := j.FinishRun(ctx, run, 12345); err != nil {
		t.Fatal(err)
	}
	runs, err := ro.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].ID != run || runs[0].Manifests != 1 || runs[0].Pending != 1 || runs[0].ReclaimableBytes != 12345 ||
		runs[0].ManifestBytes != int64(len(e.Manifest)) || len(runs[0].Registries) != 1 {
		t.Fatalf("runs %+v", runs)
	}
	del, err := ro.Deleted(ctx, e.Repository)
	if err != nil {
		t.Fatal(err)
	}
	if del[e.Digest] != run || len(del) != 1 {
		t.Fatalf("deleted %v", del)
	}
	if _, err := ro.Entries(ctx, "nope", journal.Filter{}); !errors.Is(err, journal.ErrNoRun) {
		t.Fatalf("unknown run: %v", err)
	}

	// Prune forgets the run and the manifests only it held.
	runs2, entries, err := j.Prune(ctx, t0.Add(time.Hour))
	if err != nil || runs2 != 1 || entries != 2 {
		t.Fatalf("prune: %d runs, %d entries, %v", runs2, entries, err)
	}
	if _, _, ok, err := j.Manifest(ctx, e.Digest); ok || err != nil {
		t.Fatalf("manifest kept after prune: %v %v", ok, err)
	}
}

func TestJournalReadOnlyMissing(t *testing.T) {
	_, err := journal.Open(context.Background(), filepath.Join(t.TempDir(), "none.db"), journal.Options{ReadOnly: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err %v, want fs.ErrNotExist", err)
	}
}

// A journal of a newer schema is refused; the current one reopens as is.
func TestJournalSchemaVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	j := open(t, path)
	j.Close()
	j = open(t, path) // migrating twice is a no-op
	j.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != journal.SchemaVersion {
		t.Fatalf("version %d (%v), want %d", v, err, journal.SchemaVersion)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := journal.Open(ctx, path, journal.Options{}); err == nil {
		t.Fatal("a newer schema was accepted")
	}
}

const (
	writerEnv = "REGPRUNE_JOURNAL_TEST_WRITER"
	writes    = 300
)

// TestJournalWriterProcess is the child of TestJournalTwoProcesses; it
// does nothing in a normal run.
func TestJournalWriterProcess(t *testing.T) {
	path := os.Getenv(writerEnv)
	if path == "" {
		t.Skip("the child of TestJournalTwoProcesses")
	}
	ctx := context.Background()
	run := os.Getenv(writerEnv + "_RUN")
	// Opening (and migrating) a fresh journal happens in both at once too.
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	for n := range writes {
		id, err := j.Record(ctx, entry(run, "registry.example.com/"+run, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.FinishRun(ctx, run, 0); err != nil {
		t.Fatal(err)
	}
}

// Two regprune processes write to one journal at once: both open (and
// migrate) a fresh file, then interleave their entries; none is lost.
func TestJournalTwoProcesses(t *testing.T) {
	if os.Getenv(writerEnv) != "" {
		t.Skip("in the child")
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Reader
	}
	var kids []child
	for i := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestJournalWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerEnv+"="+path, fmt.Sprintf("%s_RUN=run-%d", writerEnv, i))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, child{cmd, stdin, bufio.NewReader(stdout)})
	}
	// Both are up before either writes.
	for _, k := range kids {
		if line, err := k.out.ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("child: %q %v", line, err)
		}
	}
	for _, k := range kids {
		if _, err := io.WriteString(k.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range kids {
		rest, _ := io.ReadAll(k.out)
		if err := k.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, rest)
		}
	}
	j := open(t, path)
	ctx := context.Background()
	runs, err := j.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("runs %+v", runs)
	}
	for _, r := range runs {
		if r.Manifests != writes || r.Pending != 0 {
			t.Errorf("run %s: %d deleted, %d pending, want %d deleted", r.ID, r.Manifests, r.Pending, writes)
		}
	}
	// Interleaved: the ids of one run are not one block.
	a, err := j.Entries(ctx, "run-0", journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if span := a[len(a)-1].ID - a[0].ID + 1; span == writes {
		t.Logf("the two writers did not overlap this time (ids %d..%d)", a[0].ID, a[len(a)-1].ID)
	} else {
		t.Logf("run-0's %d entries span ids %d..%d: the writers interleaved", len(a), a[0].ID, a[len(a)-1].ID)
	}
}

const killEnv = "REGPRUNE_JOURNAL_TEST_KILLED"

// TestJournalKilledProcess is the child of TestJournalSurvivesKill: it
// writes entries without end, printing each id once Record returned.
func TestJournalKilledProcess(t *testing.T) {
	path := os.Getenv(killEnv)
	if path == "" {
		t.Skip("the child of TestJournalSurvivesKill")
	}
	ctx := context.Background()
	j, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.BeginRun(ctx, "killed", "apply", t0); err != nil {
		t.Fatal(err)
	}
	for n := 0; ; n++ {
		id, err := j.Record(ctx, entry("killed", "registry.example.com/group/app", n))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(id) // the DELETE would be sent now
	}
}

// A regprune process killed (SIGKILL) mid-run: every entry whose Record
// had returned, that is every DELETE that could have been sent, is in the
// journal when it is opened again.
func TestJournalSurvivesKill(t *testing.T) {
	if os.Getenv(killEnv) != "" {
		t.Skip("in the child")
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalKilledProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	var ids []int64
	for len(ids) < 200 {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		id, err := strconv.ParseInt(line[:len(line)-1], 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", line)
		}
		ids = append(ids, id)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	j := open(t, path)
	es, err := j.Entries(context.Background(), "killed", journal.Filter{WithManifests: true})
	if err != nil {
		t.Fatal(err)
	}
	have := map[int64]bool{}
	for _, e := range es {
		if registry.Sha256(e.Manifest) != e.Digest {
			t.Errorf("entry %d: torn manifest", e.ID)
		}
		have[e.ID] = true
	}
	for _, id := range ids {
		if !have[id] {
			t.Errorf("entry %d was acknowledged but is not in the journal after the kill", id)
		}
	}
	t.Logf("killed after %d acknowledged entries; the journal holds %d", len(ids), len(es))
}
