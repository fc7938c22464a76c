package store_test

import (
	"context"
	"testing"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// The compiled filters, evaluated by Postgres as the publish statement
// evaluates them, mean what webhooks.Filter says.
func TestFilter_PostgresEvaluatesWhatTheFilterSays(t *testing.T) {
	db, _ := testenv.DB(t)
	envelope := `{"id":"e1","event":"lead.created","organization_id":"o1","data":{"status":"new","score":0.93,"count":12,
		"tags":["vip","web"],"email":null,"attendee":{"email":"a@example.com"},"created_at":"2026-12-06T10:00:00Z","say":"he said \"hi\""}}`
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{`{"event":"lead.created"}`, true},
		{`{"event":"booking.created"}`, false},
		{`{"data.status":"new","data.attendee.email":"a@example.com"}`, true},
		{`{"data.status":"new","data.attendee.email":"b@example.com"}`, false},
		{`{"data.status":{"$ne":"lost"}}`, true},
		{`{"data.missing":{"$ne":"x"}}`, true},                        // a missing path is "not equal"
		{`{"data.missing":"x"}`, false},                               // and not equal to anything
		{`{"data.missing":{"$nin":["x","y"]}}`, true},                 //
		{`{"data.missing":{"$exists":false}}`, true},                  //
		{`{"data.email":{"$exists":true}}`, true},                     // null is a value: it exists
		{`{"data.email":null}`, true},                                 //
		{`{"data.score":{"$gte":0.9,"$lt":1}}`, true},                 //
		{`{"data.score":{"$gt":0.95}}`, false},                        //
		{`{"data.count":{"$gt":1e1}}`, true},                          // exponents
		{`{"data.count":{"$lte":-1}}`, false},                         // negatives
		{`{"data.score":{"$gt":"0.5"}}`, false},                       // a string is not compared with a number
		{`{"data.status":{"$ne":5}}`, true},                           // another type is not equal
		{`{"data.tags":"vip"}`, true},                                 // any element of a list
		{`{"data.tags":{"$in":["gold","web"]}}`, true},                //
		{`{"data.tags":{"$nin":["vip"]}}`, false},                     //
		{`{"data.created_at":{"$gte":"2026-12-01T00:00:00Z"}}`, true}, // RFC 3339 times compare as strings
		{`{"data.say":"he said \"hi\""}`, true},                       // quotes in values
		{`{"$or":[{"data.status":"won"},{"data.score":{"$gt":0.9}}]}`, true},
		{`{"$or":[{"data.status":"won"},{"data.score":{"$gt":0.95}}]}`, false},
		{`{"$and":[{"data.status":"new"},{"$or":[{"data.tags":"gold"},{"event":"lead.created"}]}]}`, true},
		{`{"data.status":{"$in":["won","lost"]}}`, false},
	} {
		path, err := webhooks.CompileFilter([]byte(tc.filter))
		testenv.Must(t, err)
		var got bool
		if err := db.Pool().QueryRow(context.Background(), `SELECT $1::jsonb @@ $2::jsonpath`, envelope, path).Scan(&got); err != nil {
			t.Fatalf("%s → %s: %v", tc.filter, path, err)
		}
		if got != tc.want {
			t.Errorf("%s → %s: %v, want %v", tc.filter, path, got, tc.want)
		}
	}
}
