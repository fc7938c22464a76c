package webhooks_test

import (
	"errors"
	"strings"
	"testing"

	webhooks "github.com/empfio/webhooks"
)

func TestCompileFilter(t *testing.T) {
	for _, tc := range []struct {
		filter, want string
	}{
		{``, ``},
		{`null`, ``},
		{`{"event":"lead.created"}`, `exists($."event" ? (@ == "lead.created"))`},
		{`{"data.status":{"$ne":"lost"},"data.score":{"$gte":0.5,"$lt":1}}`,
			`exists($."data"."score" ? (@ >= 0.5)) && exists($."data"."score" ? (@ < 1)) && !exists($."data"."status" ? (@ == "lost"))`},
		{`{"data.channel":{"$in":["web","whatsapp"]},"data.email":{"$exists":true}}`,
			`exists($."data"."channel" ? (@ == "web" || @ == "whatsapp")) && exists($."data"."email")`},
		{`{"$or":[{"data.a":1},{"data.b":{"$nin":[null,false]}}]}`,
			`((exists($."data"."a" ? (@ == 1))) || (!exists($."data"."b" ? (@ == null || @ == false))))`},
		{`{"data.weird \"key\"":"x"}`, `exists($."data"."weird \"key\"" ? (@ == "x"))`},
	} {
		got, err := webhooks.CompileFilter([]byte(tc.filter))
		if err != nil || got != tc.want {
			t.Errorf("%s:\n got %s, %v\nwant %s", tc.filter, got, err, tc.want)
		}
	}
}

func TestCompileFilter_BadFiltersAre422OnTheField(t *testing.T) {
	deep := `{"data.x":1}`
	for range webhooks.MaxFilterDepth {
		deep = `{"$and":[` + deep + `]}`
	}
	for _, tc := range []struct{ filter, says string }{
		{`[]`, "JSON object"},
		{`"x"`, "JSON object"},
		{`{}`, "at least one condition"},
		{`{"data.x":{"$regex":"a"}}`, "data.x.$regex: is not an operator"},
		{`{"$where":"1"}`, "$where: is not an operator here"},
		{`{"data.x":{"$gt":true}}`, "string or a number"},
		{`{"data.x":{"$gt":[1]}}`, "string or a number"},
		{`{"data.x":{"a":1}}`, "is not an operator"},
		{`{"data.x":[1,2]}`, "use a dotted path, or $in"},
		{`{"data.x":{"$in":[]}}`, "list of 1 to"},
		{`{"data.x":{"$in":[{"a":1}]}}`, "data.x.$in[0]"},
		{`{"data.x":{"$exists":"yes"}}`, "true or false"},
		{`{"data..x":1}`, "empty segment"},
		{`{"$and":[]}`, "non-empty list"},
		{`{"$or":[1]}`, "$or[0]"},
		{`{"data.x":{}}`, "at least one operator"},
		{deep, "nests deeper than 8"},
		{`{"data.x":"` + strings.Repeat("a", webhooks.MaxFilterBytes) + `"}`, "at most 4096 bytes"},
		{`{"data.x":`, "JSON object"},
	} {
		_, err := webhooks.CompileFilter([]byte(tc.filter))
		var werr *webhooks.Error
		if !errors.As(err, &werr) || werr.Code != webhooks.EINVALID || len(werr.Fields) != 1 || werr.Fields[0].Field != "filter" ||
			!strings.Contains(werr.Fields[0].Message, tc.says) {
			t.Errorf("%.60s: %v, want 422 on filter saying %q", tc.filter, err, tc.says)
		}
	}
}
