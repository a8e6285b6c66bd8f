// Command pbxgate is the messaging gateway daemon for on-prem PBXs and its
// command-line tools.
//
//	pbxgate run [-c FILE] [--demo]   the daemon (--demo: simulator controls)
//	pbxgate version                  version, commit, build date, Go, platform
//	pbxgate config check [-c FILE]   validate a configuration file
//	pbxgate backup FILE              online backup of the store
//	pbxgate restore FILE             restore a backup into an empty data directory
//	pbxgate user add|passwd|list     portal users
//	pbxgate modems                   modems, their state, signal and operator
//	pbxgate ussd MODEM CODE          send a USSD code (balance, top-up)
//	pbxgate send CHANNEL NUMBER TEXT send one SMS through the running daemon
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what every command gets: its streams and the environment, so
// tests can run commands in-process.
type cliEnv struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	environ        []string
}

func commands() []command {
	return append([]command{
		{"run", "start the daemon", cmdRun},
		{"version", "print version, commit, build date, Go version and platform", cmdVersion},
		{"config", "check a configuration file: pbxgate config check [-c FILE]", cmdConfig},
		{"backup", "write an online backup of the store to FILE", cmdBackup},
		{"restore", "restore a backup FILE into an empty data directory", cmdRestore},
		{"user", "manage portal users: add, passwd, list", cmdUser},
		{"modems", "show modems, their state, signal and operator, and the SMS channels", cmdModems},
		{"ussd", "send a USSD code through a modem: pbxgate ussd MODEM CODE", cmdUSSD},
		{"cluster", "the boxes of the cluster and the leader (pbxgate cluster status); shared SMS campaigns (pbxgate cluster campaign …)", cmdCluster},
		{"send", "send one SMS through the running daemon: pbxgate send CHANNEL NUMBER TEXT", cmdSend},
	}, applianceCommands()...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cliEnv{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, environ: os.Environ()}
	os.Exit(runCLI(ctx, env, os.Args[1:]))
}

// runCLI dispatches args to a subcommand and returns the exit code.
func runCLI(ctx context.Context, env *cliEnv, args []string) int {
	cmds := commands()
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "pbxgate — SMS, WhatsApp and SIP MESSAGE gateway for on-prem PBXs\n\nUsage: pbxgate COMMAND [options]\n\nCommands:\n")
		for _, c := range cmds {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
		fmt.Fprintf(w, "\nRun 'pbxgate COMMAND --help' for a command's options.\n")
	}
	if len(args) == 0 {
		usage(env.stderr)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stdout)
		return 0
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(env.stderr, "pbxgate %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(env.stderr, "pbxgate %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(env.stderr, "pbxgate: unknown command %q\n\n", args[0])
	usage(env.stderr)
	return 2
}

var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// newFlags makes a FlagSet whose --help prints the command's usage line and
// options to stdout.
func newFlags(env *cliEnv, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("pbxgate "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pbxgate %s\n", synopsis)
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(env.stderr)
		if b.Len() > 0 {
			fmt.Fprintf(fs.Output(), "\nOptions:\n%s", b.String())
		}
	}
	return fs
}

// parseFlags parses args; --help prints usage to stdout and returns
// flag.ErrHelp.
func parseFlags(env *cliEnv, fs *flag.FlagSet, args []string) error {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(env.stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	// Accept options after positional arguments too (pbxgate user add
	// carla --role operator): the flag package stops at the first
	// positional one, so parse the rest again.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}
