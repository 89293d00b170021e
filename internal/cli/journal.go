package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/regprune/regprune/internal/journal"
)

// journalFlags choose the journal of deletions.
type journalFlags struct {
	path    string
	disable bool
	noWAL   bool
}

func (j *journalFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&j.path, "journal", "", "journal of deletions, for restore (default $XDG_STATE_HOME/regprune/journal.db, else ~/.local/state/regprune/journal.db)")
	cmd.Flags().BoolVar(&j.noWAL, "journal-no-wal", false, "write the journal without SQLite's WAL, for a journal on NFS or another network filesystem (where WAL is not safe); slower")
}

// addDisable adds --no-journal, for apply.
func (j *journalFlags) addDisable(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&j.disable, "no-journal", false, "record nothing: what this run deletes cannot be restored")
}

func (j *journalFlags) check() error {
	if j.disable && j.path != "" {
		return usagef("--journal %s with --no-journal: give one", j.path)
	}
	return nil
}

func (j *journalFlags) file(env *Env) (string, error) {
	if j.path != "" {
		return j.path, nil
	}
	p := journal.DefaultPath(env.Getenv)
	if p == "" {
		return "", errors.New("no journal path: set XDG_STATE_HOME or HOME, or give --journal PATH (or --no-journal)")
	}
	return p, nil
}

// openWrite opens the journal apply writes to; nil with --no-journal. A
// journal that cannot be opened stops the run before any request: apply
// deletes nothing it cannot record.
func (j *journalFlags) openWrite(ctx context.Context, env *Env) (*journal.Journal, error) {
	if j.disable {
		return nil, nil
	}
	p, err := j.file(env)
	if err != nil {
		return nil, err
	}
	jr, err := journal.Open(ctx, p, journal.Options{Now: env.Now, NoWAL: j.noWAL})
	if errors.Is(err, journal.ErrDamaged) || errors.Is(err, journal.ErrUnsafe) {
		// A path that cannot hold the undo record is bad input, like an
		// output path that cannot be written: exit 2, nothing sent.
		return nil, usagef("--journal: %v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w (give --journal PATH, or --no-journal to delete without a way back)", err)
	}
	return jr, nil
}

// openRead opens an existing journal to read; nil (and no error) when
// there is none yet, or when plan runs without one.
func (j *journalFlags) openRead(ctx context.Context, env *Env, log *slog.Logger) *journal.Journal {
	p, err := j.file(env)
	if err != nil {
		return nil
	}
	jr, err := journal.Open(ctx, p, journal.Options{ReadOnly: true, Now: env.Now})
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("not reading the journal", "err", err)
		}
		return nil
	}
	return jr
}

// openExisting opens the journal the runs and restore commands read.
func (j *journalFlags) openExisting(ctx context.Context, env *Env, write bool) (*journal.Journal, error) {
	p, err := j.file(env)
	if err != nil {
		return nil, err
	}
	jr, err := journal.Open(ctx, p, journal.Options{ReadOnly: !write, Now: env.Now, NoWAL: j.noWAL})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no journal at %s: no apply has recorded anything there (give --journal PATH)", p)
	}
	if err != nil {
		return nil, journal.Damaged(p, err)
	}
	return jr, nil
}
