package api

import (
	"encoding/json"
)

// AgentDedupKey is the dedup key the agent event body is claimed under.
func AgentDedupKey(body string) (string, error) {
	var req agentEventRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		return "", err
	}
	_, data, _, err := req.validate()
	if err != nil {
		return "", err
	}
	return req.dedupKey(data), nil
}
