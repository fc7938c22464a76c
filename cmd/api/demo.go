package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/cmd/internal/config"
)

// demoOrganizationID is the fixed id of the demo organization of `make run`.
const demoOrganizationID = "00000000-0000-4000-8000-00000000d3e0"

// demo creates the demo organization unless it exists, and prints an API key of
// it: the one kept in keyFile while it still authenticates, else a new one.
func demo(ctx context.Context, cfg *config.Config, keyFile string) error {
	db, err := cfg.Store(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.EnsureOrganization(ctx, demoOrganizationID, "Demo organization"); err != nil {
		return err
	}
	if b, err := os.ReadFile(keyFile); err == nil {
		key := strings.TrimSpace(string(b))
		if org, _, err := db.Authenticate(ctx, webhooks.HashAPIKey(key)); err == nil && org == demoOrganizationID {
			fmt.Println(key)
			return nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	k, err := db.CreateAPIKey(ctx, demoOrganizationID, "demo")
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, []byte(k.Key+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Println(k.Key)
	return nil
}
