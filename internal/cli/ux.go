package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// ux holds the global flags about what regprune shows: log format, quiet.
type ux struct {
	logFormat string
	quiet     bool
	stderrTTY bool
	build     BuildInfo
}

func (u *ux) add(root *cobra.Command, env *Env) {
	u.build = readBuildInfo()
	u.stderrTTY = env.StderrTerminal
	root.Version = u.build.String()
	root.SetVersionTemplate("regprune {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&u.logFormat, "log-format", "text", "log format on stderr: text or json")
	pf.BoolVarP(&u.quiet, "quiet", "q", false, "no progress display and no notices; warnings and errors only")
	_ = root.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

func (u *ux) check() error {
	if u.logFormat != "text" && u.logFormat != "json" {
		return usagef("--log-format %q: want text or json", u.logFormat)
	}
	return nil
}

// logger is the one log style of regprune on stderr.
func (u *ux) logger(w io.Writer, level slog.Level) *slog.Logger {
	if u.quiet {
		level = max(level, slog.LevelError)
	}
	o := &slog.HandlerOptions{Level: level}
	if u.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// showProgress says whether a progress display goes to stderr.
func (u *ux) showProgress() bool { return u.stderrTTY && !u.quiet }

func newVersionCmdUX(env *Env, u *ux) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print regprune's version and the VCS revision it was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "json":
				enc := json.NewEncoder(env.Stdout)
				return enc.Encode(u.build)
			case "", "text":
				_, err := fmt.Fprintf(env.Stdout, "regprune %s\n", u.build)
				return err
			}
			return usagef("-o %q: want text or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// notices is where the plain notices of a run go (warnings, registry
// refusals, GC advice): stderr as "warning: ..." and "regprune: ..."
// lines with --log-format text, one JSON log record per line with
// --log-format json, nowhere with --quiet.
func (u *ux) notices(w io.Writer) io.Writer {
	switch {
	case u.quiet:
		return io.Discard
	case u.logFormat == "json":
		return &jsonLines{log: slog.New(slog.NewJSONHandler(w, nil))}
	}
	return w
}

// jsonLines logs each line written to it: "warning: X" at WARN, other
// lines (without a "regprune: " prefix) at INFO.
type jsonLines struct {
	log  *slog.Logger
	part []byte
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.part = append(j.part, p...)
	for {
		i := bytes.IndexByte(j.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(j.part[:i])
		j.part = j.part[i+1:]
		if rest, ok := strings.CutPrefix(line, "warning: "); ok {
			j.log.Warn(rest)
		} else if line != "" {
			j.log.Info(strings.TrimPrefix(line, "regprune: "))
		}
	}
}
