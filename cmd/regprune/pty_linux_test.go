package main

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/regprune/regprune/internal/ptytest"
)

// A Ctrl-C typed in a terminal reaches the terminal's foreground process
// group once; regprune, one process, stops once: the report, exit 130,
// never "interrupted twice" (the second copy a supervisor forwarded).
func TestCtrlCInATerminalStopsOnce(t *testing.T) {
	host, proxy, seen := slowRegistry(t)
	master, slave := ptytest.Open(t)
	journalPath := filepath.Join(t.TempDir(), "journal.db")
	cmd := regprune(t, "apply", host+"/ci/app", "--keep-tag", "latest", "--yes", "--journal", journalPath)
	cmd.Env = append(cmd.Env, "TERM=dumb")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// Its own session with the pty as controlling terminal: the
	// terminal's Ctrl-C goes to regprune's process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var (
		out bytes.Buffer
		wg  sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(&out, master) // ends with EIO once regprune is gone
	}()
	waitDelete(t, seen)
	if _, err := master.Write([]byte{3}); err != nil { // ^C
		t.Fatal(err)
	}
	code := exitCode(t, cmd.Wait())
	wg.Wait()
	text := out.String()
	if code != 130 || strings.Contains(text, "twice") || !strings.Contains(text, "regprune: interrupted (SIGINT)") || !strings.Contains(text, "run id:") {
		t.Fatalf("Ctrl-C: exit %d, want 130 with one stop and a report; terminal:\n%s", code, text)
	}
	if n := proxy.Counts().ManifestDELETE; n >= 11 {
		t.Errorf("%d DELETEs after Ctrl-C at the first: the run did not stop", n)
	}
	// The run was finished in the journal: no entry left pending.
	runs := regprune(t, "runs", "-o", "json", "--journal", journalPath)
	js, err := runs.Output()
	if err != nil {
		t.Fatalf("runs: %v", err)
	}
	var list []struct {
		ID      string `json:"id"`
		Pending int    `json:"pending"`
	}
	if err := json.Unmarshal(js, &list); err != nil || len(list) != 1 || list[0].Pending != 0 {
		t.Errorf("runs after Ctrl-C: %s (%v); want one run with no pending entry", js, err)
	}
}
