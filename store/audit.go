package store

import (
	"context"
	"fmt"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
)

// RecordAudit stores ev, stamping its id and time (a UUIDv7 and the time it
// carries: its day partition).
func (db *DB) RecordAudit(ctx context.Context, ev *webhooks.AuditEvent) error {
	ev.ID, ev.CreatedAt = webhooks.NewEventID()
	var detail *string
	if len(ev.Detail) > 0 {
		s := string(ev.Detail)
		detail = &s
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO audit_events (id, created_at, organization_id, action, api_key_id, portal_session_id,
			target_type, target_id, detail, ip, user_agent, request_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12)`,
		ev.ID, ev.CreatedAt, ev.OrganizationID, ev.Action, ev.APIKeyID, ev.PortalSessionID, ev.TargetType, ev.TargetID,
		detail, ev.IP, ev.UserAgent, ev.RequestID)
	return wrap(err, "")
}

// AuditLog returns a page of an organization's audit events, newest first,
// each with who did it in words (the API key's prefix, through a dashboard
// link or not; the admin token).
func (db *DB) AuditLog(ctx context.Context, f webhooks.AuditFilter) ([]*webhooks.AuditEvent, *webhooks.Cursor, error) {
	args := []any{f.OrganizationID, f.Limit + 1, f.Action}
	where := ` AND ($3 = '' OR a.action = $3)`
	if f.Cursor != nil {
		where += ` AND (a.created_at, a.id) < ($4, $5)`
		args = append(args, f.Cursor.CreatedAt, f.Cursor.ID)
	}
	rows, err := db.read.Query(ctx, `SELECT a.id::text, a.organization_id::text, a.action, a.target_type, a.target_id, a.detail,
			a.ip, a.user_agent, a.request_id, a.created_at, k.prefix, a.portal_session_id::text
		FROM audit_events a LEFT JOIN api_keys k ON k.id = a.api_key_id
		WHERE a.organization_id = $1`+where+` ORDER BY a.created_at DESC, a.id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*webhooks.AuditEvent, error) {
		var ev webhooks.AuditEvent
		var detail []byte
		var prefix *string
		if err := r.Scan(&ev.ID, &ev.OrganizationID, &ev.Action, &ev.TargetType, &ev.TargetID, &detail, &ev.IP, &ev.UserAgent,
			&ev.RequestID, &ev.CreatedAt, &prefix, &ev.PortalSessionID); err != nil {
			return nil, err
		}
		ev.Detail = detail
		switch {
		case prefix == nil:
			ev.Actor = "admin token"
		case ev.PortalSessionID != nil:
			ev.Actor = fmt.Sprintf("dashboard link %s of API key %s…", (*ev.PortalSessionID)[:8], *prefix)
		default:
			ev.Actor = fmt.Sprintf("API key %s…", *prefix)
		}
		return &ev, nil
	})
	if err != nil {
		return nil, nil, wrap(err, "")
	}
	return page(list, f.Limit, func(e *webhooks.AuditEvent) webhooks.Cursor { return webhooks.Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
}
