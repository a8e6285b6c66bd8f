package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// dataDirFlags adds -c and --data to fs and returns a resolver for the data
// directory: --data wins, else the configuration's data_dir.
func dataDirFlags(env *cliEnv, fs *flag.FlagSet) func() (string, error) {
	path := fs.String("c", config.DefaultPath, "configuration file (for data_dir)")
	data := fs.String("data", "", "data directory (overrides the configuration)")
	return func() (string, error) {
		if *data != "" {
			return *data, nil
		}
		cfg, err := config.Load(*path, env.environ)
		if err != nil {
			return "", fmt.Errorf("%w (or give --data DIR)", err)
		}
		return cfg.DataDir, nil
	}
}

func cmdBackup(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "backup", "backup [-c FILE | --data DIR] OUTPUT-FILE")
	dir := dataDirFlags(env, fs)
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("give the backup file to write, e.g. pbxgate backup /root/pbxgate-%s.pbxbak", time.Now().Format("2006-01-02"))
	}
	dataDir, err := dir()
	if err != nil {
		return err
	}
	out := fs.Arg(0)
	// The running daemon holds the store: ask it for an online backup.
	resp, err := newControlClient(dataDir).do(ctx, "GET", "/v1/backup", nil)
	switch {
	case err == nil:
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("daemon refused the backup: %s", resp.Status)
		}
		if err := writeFileAtomic(out, resp.Body); err != nil {
			return fmt.Errorf("backup from running daemon: %w", err)
		}
	case errors.Is(err, errDaemonNotRunning):
		s, err := store.Open(store.Options{Dir: dataDir})
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := s.BackupFile(out); err != nil {
			return err
		}
	default:
		return err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "backup written to %s (%d bytes)\n", out, fi.Size())
	return nil
}

func writeFileAtomic(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".backup-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func cmdRestore(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "restore", "restore [-c FILE | --data DIR] BACKUP-FILE  (the data directory must be empty; stop the daemon first)")
	dir := dataDirFlags(env, fs)
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("give the backup file to restore")
	}
	dataDir, err := dir()
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := store.Restore(ctx, dataDir, f, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "restored %s into %s\n", fs.Arg(0), dataDir)
	return nil
}

func cmdUser(ctx context.Context, env *cliEnv, args []string) error {
	const synopsis = "user add NAME [--role admin|operator] | user passwd NAME | user token NAME [--label L] | user list   [-c FILE | --data DIR] [--password-stdin]"
	if len(args) == 0 {
		return usageErr("%s", synopsis)
	}
	sub, args := args[0], args[1:]
	if sub == "-h" || sub == "--help" {
		fmt.Fprintf(env.stdout, "Usage: pbxgate %s\n", synopsis)
		return flag.ErrHelp
	}
	fs := newFlags(env, "user "+sub, synopsis)
	dir := dataDirFlags(env, fs)
	role := fs.String("role", string(users.RoleAdmin), "role: admin or operator")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input instead of the terminal")
	label := fs.String("label", "cli", "what the API token is for (user token)")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	dataDir, err := dir()
	if err != nil {
		return err
	}
	u := userAccess{dataDir: dataDir, ctl: newControlClient(dataDir)}
	switch sub {
	case "list":
		list, err := u.list(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tLAST LOGIN")
		for _, x := range list {
			last := "never"
			if !x.LastLogin.IsZero() {
				last = x.LastLogin.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Name, x.Role, x.Created.Local().Format(time.DateTime), last)
		}
		return tw.Flush()
	case "token":
		if fs.NArg() != 1 {
			return usageErr("give the user name")
		}
		tok, err := u.token(ctx, fs.Arg(0), *label)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, tok)
		fmt.Fprintln(env.stderr, "Bearer token for /api/v1 (shown only now): Authorization: Bearer <token>")
		return nil
	case "add", "passwd":
		if fs.NArg() != 1 {
			return usageErr("give the user name")
		}
		pw, err := readPassword(env, *pwStdin)
		if err != nil {
			return err
		}
		if sub == "add" {
			err = u.add(ctx, fs.Arg(0), pw, *role)
		} else {
			err = u.passwd(ctx, fs.Arg(0), pw)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "user %s: done\n", fs.Arg(0))
		return nil
	}
	return usageErr("unknown subcommand %q; %s", sub, synopsis)
}

// userAccess changes users through the running daemon, or directly in the
// store when no daemon runs.
type userAccess struct {
	dataDir string
	ctl     *controlClient
}

func (u userAccess) direct(ctx context.Context, fn func(*users.Service) error) error {
	s, err := store.Open(store.Options{Dir: u.dataDir, SyncWrites: true})
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(users.New(s))
}

func (u userAccess) list(ctx context.Context) ([]users.User, error) {
	var list []users.User
	err := u.ctl.call(ctx, "GET", "/v1/users", nil, &list)
	if errors.Is(err, errDaemonNotRunning) {
		err = u.direct(ctx, func(s *users.Service) (err error) { list, err = s.List(ctx); return err })
	}
	return list, err
}

func (u userAccess) add(ctx context.Context, name, pw, role string) error {
	err := u.ctl.call(ctx, "POST", "/v1/users", userRequest{Name: name, Password: pw, Role: role}, nil)
	if errors.Is(err, errDaemonNotRunning) {
		err = u.direct(ctx, func(s *users.Service) error { return s.Add(ctx, name, pw, users.Role(role)) })
	}
	return err
}

func (u userAccess) token(ctx context.Context, name, label string) (string, error) {
	var rep tokenReply
	err := u.ctl.call(ctx, "POST", "/v1/users/"+name+"/tokens", tokenRequest{Label: label}, &rep)
	if errors.Is(err, errDaemonNotRunning) {
		err = u.direct(ctx, func(s *users.Service) (err error) { rep.Token, err = s.CreateToken(ctx, name, label); return err })
	}
	return rep.Token, err
}

func (u userAccess) passwd(ctx context.Context, name, pw string) error {
	err := u.ctl.call(ctx, "PUT", "/v1/users/"+name+"/password", userRequest{Password: pw}, nil)
	if errors.Is(err, errDaemonNotRunning) {
		err = u.direct(ctx, func(s *users.Service) error { return s.SetPassword(ctx, name, pw) })
	}
	return err
}

// readPassword asks twice on a terminal (no echo), or reads one line from
// standard input with --password-stdin.
func readPassword(env *cliEnv, fromStdin bool) (string, error) {
	if f, ok := env.stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(env.stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	if !fromStdin {
		return "", usageErr("standard input is not a terminal: use --password-stdin")
	}
	line, err := bufio.NewReader(env.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
