package webhooks_test

import (
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
)

func TestReplayRange_Bounds(t *testing.T) {
	now := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	cases := []struct {
		name  string
		r     webhooks.ReplayRange
		valid bool
	}{
		{"since an hour ago, until now", webhooks.ReplayRange{Since: at(-time.Hour)}, true},
		{"exactly 31 days", webhooks.ReplayRange{Since: at(-webhooks.MaxReplayRange)}, true},
		{"a day in the past", webhooks.ReplayRange{Since: at(-48 * time.Hour), Until: at(-24 * time.Hour)}, true},
		{"no since", webhooks.ReplayRange{}, false},
		{"since after until", webhooks.ReplayRange{Since: at(time.Minute)}, false},
		{"since equal to until", webhooks.ReplayRange{Since: at(-time.Hour), Until: at(-time.Hour)}, false},
		{"longer than 31 days", webhooks.ReplayRange{Since: at(-webhooks.MaxReplayRange - time.Second)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			since, until, err := c.r.Bounds(now)
			if (err == nil) != c.valid {
				t.Fatalf("Bounds = %v, want valid %v", err, c.valid)
			}
			if err != nil && webhooks.ErrorCode(err) != webhooks.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			if err == nil && (!since.Equal(*c.r.Since) || (c.r.Until == nil && !until.Equal(now))) {
				t.Fatalf("range [%s, %s)", since, until)
			}
		})
	}
}

func TestSecretRotation_GracePeriod(t *testing.T) {
	d := func(s time.Duration) *webhooks.Duration { v := webhooks.Duration(s); return &v }
	cases := []struct {
		grace *webhooks.Duration
		want  time.Duration
		valid bool
	}{
		{nil, 24 * time.Hour, true},
		{d(0), 0, true},
		{d(time.Hour), time.Hour, true},
		{d(7 * 24 * time.Hour), 7 * 24 * time.Hour, true},
		{d(7*24*time.Hour + time.Second), 0, false},
		{d(-time.Second), 0, false},
	}
	for _, c := range cases {
		got, err := webhooks.SecretRotation{Grace: c.grace}.GracePeriod()
		if (err == nil) != c.valid || (c.valid && got != c.want) {
			t.Errorf("grace %v: %s, %v; want %s, valid %v", c.grace, got, err, c.want, c.valid)
		}
	}
}

func TestNames_AreBounded(t *testing.T) {
	long := strings.Repeat("n", webhooks.MaxNameLength+1)
	if err := (&webhooks.Organization{Name: long}).Validate(); webhooks.ErrorCode(err) != webhooks.EINVALID {
		t.Errorf("organization name of %d characters: %v", len(long), err)
	}
	if err := (&webhooks.Organization{Name: "  "}).Validate(); webhooks.ErrorCode(err) != webhooks.EINVALID {
		t.Errorf("blank organization name: %v", err)
	}
	if err := (&webhooks.APIKey{Name: long}).Validate(); webhooks.ErrorCode(err) != webhooks.EINVALID {
		t.Errorf("key name of %d characters: %v", len(long), err)
	}
	if err := (&webhooks.APIKey{}).Validate(); err != nil {
		t.Errorf("a key without a name: %v", err)
	}
}

func TestOperationalEvents_NeverAboutThemselves(t *testing.T) {
	now := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	job := &webhooks.Job{Delivery: webhooks.Delivery{ID: "d1", OrganizationID: "o1", EventType: webhooks.DeliveryFailed},
		Endpoint: webhooks.Endpoint{ID: "e1", OrganizationID: "o1"}}
	if ev := webhooks.DeliveryFailedEvent(job, webhooks.AttemptRecord{}, 1, now); ev != nil {
		t.Fatal("a failed delivery of a delivery.failed made another")
	}
	job.Delivery.EventType = webhooks.LeadCreated
	ev := webhooks.DeliveryFailedEvent(job, webhooks.AttemptRecord{}, 4, now)
	if ev == nil || ev.Exclude != "e1" || ev.Type != webhooks.DeliveryFailed || ev.OrganizationID != "o1" {
		t.Fatalf("delivery.failed event %+v", ev)
	}
	if ev := webhooks.WebhookDisabledEvent(&job.Endpoint, "gone", now); ev.Exclude != "e1" || ev.Type != webhooks.WebhookDisabled {
		t.Fatalf("webhook.disabled event %+v", ev)
	}
}
