package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/pbxgate/pbxgate/gateway/config"
)

func cmdConfig(_ context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || (args[0] != "check" && args[0] != "example" && args[0] != "-h" && args[0] != "--help") {
		return usageErr("pbxgate config check [-c FILE] [--print] | pbxgate config example")
	}
	if args[0] == "example" {
		_, err := env.stdout.Write(config.Example)
		return err
	}
	fs := newFlags(env, "config check", "config check [-c FILE] [--print]")
	path := fs.String("c", config.DefaultPath, "configuration file")
	print := fs.Bool("print", false, "print the effective configuration (secrets masked)")
	if args[0] == "check" {
		args = args[1:]
	}
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, env.environ)
	var ps config.Problems
	if errors.As(err, &ps) {
		fmt.Fprintf(env.stdout, "%s: %d problem(s)\n", *path, len(ps))
		for _, p := range ps {
			fmt.Fprintf(env.stdout, "  %s\n", p)
		}
		return fmt.Errorf("%s is not valid", *path)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s: OK\n", *path)
	if *print {
		out, err := cfg.Redacted()
		if err != nil {
			return err
		}
		env.stdout.Write(out)
	}
	return nil
}
