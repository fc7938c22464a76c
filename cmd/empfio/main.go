// Command empfio is the receiver developer's tool:
//
//	empfio listen --forward-to http://localhost:3000/hooks [--events lead.*,booking.*]
//	empfio listen --print-secret
//	empfio trigger lead.created [--all]
//
// listen creates a temporary endpoint of the organization (a listen session),
// pulls its deliveries from the api — server-sent events over an outbound
// connection, so it works behind NAT and firewalls that take no inbound
// connections — POSTs each, with its signature headers, to the local URL, and
// reports the local server's answer back: the delivery's log shows it. It
// prints one line per delivery and ends the session when it stops. Every
// session of one key on one machine signs with the same secret (secret.go),
// which --print-secret prints. trigger
// publishes the catalog's example of an event type to the listening sessions
// (with --all, to every endpoint of the organization subscribed to it).
//
// EMPFIO_API_KEY is the organization's API key; EMPFIO_API_URL the api
// (default http://127.0.0.1:8080).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	webhooks "github.com/empfio/webhooks"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "empfio:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  empfio listen --forward-to URL [--events TYPES] [--json]
                                                    receive the organization's webhooks here
  empfio listen --print-secret [--json]             the secret that signs them: the same for this key
                                                    on this machine, session after session
  empfio trigger EVENT_TYPE [--all] [--json]        send the catalog's example of EVENT_TYPE to the
                                                    listening sessions (--all: to every endpoint)
  --json prints one JSON object a line (ready, delivery, triggered) instead of text
  empfio version                                    the CLI's version, Go version and platform
  empfio help                                       this text
environment: EMPFIO_API_KEY (required), EMPFIO_API_URL (default http://127.0.0.1:8080)`

// errHelp ends a run that printed its help.
var errHelp = errors.New("help")

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command\n%s", usage)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(out, usage)
		return nil
	case "version", "--version":
		fmt.Fprintf(out, "empfio %s (%s, %s/%s)\n", webhooks.Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case "listen", "trigger":
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
	cmd, err := parse(args[0], args[1:], out)
	if errors.Is(err, errHelp) {
		return nil
	} else if err != nil {
		return err
	}
	c, err := clientFromEnv()
	if err != nil {
		return err
	}
	return cmd(ctx, c)
}

// parse reads the flags of command name; --help prints them (no key needed).
func parse(name string, args []string, out io.Writer) (func(context.Context, *client) error, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	asJSON := fs.Bool("json", false, "print one JSON object a line instead of text")
	switch name {
	case "listen":
		forwardTo := fs.String("forward-to", "", "the local URL each delivery is POSTed to (required)")
		events := fs.String("events", "*", "event types to receive, comma-separated (lead.*, booking.created, …)")
		printSecret := fs.Bool("print-secret", false, "print the secret that signs this key's sessions on this machine, and stop")
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if *printSecret {
			return func(_ context.Context, c *client) error {
				s, err := listenSecret(c)
				if err != nil {
					return fmt.Errorf("the listen secret: %w", err)
				}
				printer{out: out, json: *asJSON}.say(s, map[string]any{"type": "secret", "secret": s})
				return nil
			}, nil
		}
		if *forwardTo == "" {
			return nil, errors.New("listen needs --forward-to, e.g. --forward-to http://localhost:3000/hooks")
		}
		return func(ctx context.Context, c *client) error {
			return listen(ctx, c, *forwardTo, *events, printer{out: out, json: *asJSON})
		}, nil
	default:
		all := fs.Bool("all", false, "send to every endpoint of the organization subscribed to the type, not only the listening sessions")
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() != 1 {
			return nil, fmt.Errorf("trigger takes one event type\n%s", usage)
		}
		return func(ctx context.Context, c *client) error {
			return trigger(ctx, c, fs.Arg(0), *all, printer{out: out, json: *asJSON})
		}, nil
	}
}

// parseFlags parses args, flags before or after the arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var rest []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			return errHelp
		} else if err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, rest...))
}
