// Command empfio is the receiver developer's tool:
//
//	empfio listen --forward-to http://localhost:3000/hooks [--events lead.*,booking.*]
//	empfio trigger lead.created
//
// listen creates a temporary endpoint of the organization (a listen session),
// pulls its deliveries from the api — server-sent events over an outbound
// connection, so it works behind NAT and firewalls that take no inbound
// connections — and POSTs each, with its signature headers, to the local URL,
// printing one line per delivery. It ends the session when it stops. trigger
// publishes the catalog's example of an event type to the organization.
//
// EMPFIO_API_KEY is the organization's API key; EMPFIO_API_URL the api
// (default http://127.0.0.1:8080).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
  empfio listen --forward-to URL [--events TYPES]   receive the organization's webhooks here
  empfio trigger EVENT_TYPE                         publish the catalog's example of EVENT_TYPE
environment: EMPFIO_API_KEY (required), EMPFIO_API_URL (default http://127.0.0.1:8080)`

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command\n%s", usage)
	}
	c, err := clientFromEnv()
	if err != nil {
		return err
	}
	switch args[0] {
	case "listen":
		return listen(ctx, c, args[1:], out)
	case "trigger":
		if len(args) != 2 {
			return fmt.Errorf("trigger takes one event type\n%s", usage)
		}
		return trigger(ctx, c, args[1], out)
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
