package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Remote requests, PROTOCOL.md C.5: a JSON object on <prefix>/<device>/cmd
// with an "id" and a "request" line. The bridge validates it, checks the
// verb against --allow-commands and only then sends it to mypolld.

// maxCommandBytes bounds a cmd message: an id of 64 bytes and a request of
// 1023 escaped bytes fit with room to spare.
const maxCommandBytes = 16 << 10

// errDropCommand marks a message that gets no reply at all: it has no
// usable id to answer to.
var errDropCommand = errors.New("command message without a valid id")

// command is a validated cmd message. Reply, when not empty, is the ERR the
// bridge answers itself (the request is not sent); otherwise Request goes
// to mypolld.
type command struct {
	ID      string
	Request string
	Verb    string
	Reply   string
}

// forbiddenVerbs can never be allowed: they would change the bridge's own
// connection (its subscription, its end) or pass a descriptor it cannot
// forward.
var forbiddenVerbs = map[string]bool{"subscribe": true, "quit": true, "open_device": true}

// ParseAllowed parses --allow-commands: a comma list of verbs.
func ParseAllowed(s string) (map[string]bool, error) {
	if s == "" {
		return nil, nil
	}
	allowed := map[string]bool{}
	for v := range strings.SplitSeq(s, ",") {
		switch {
		case !isVerb(v):
			return nil, fmt.Errorf("--allow-commands: %q is not a verb", v)
		case forbiddenVerbs[v]:
			return nil, fmt.Errorf("--allow-commands: %q cannot be allowed (it would change the bridge's own connection)", v)
		}
		allowed[v] = true
	}
	return allowed, nil
}

func isVerb(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func printable(s string, tab bool) bool {
	for _, c := range []byte(s) {
		if !(c >= 0x20 && c <= 0x7e || tab && c == '\t') {
			return false
		}
	}
	return true
}

// parseCommand validates one cmd message against the allowed verbs. It
// returns errDropCommand (wrapped) for a message that gets no reply.
func parseCommand(msg []byte, allowed map[string]bool) (command, error) {
	if len(msg) > maxCommandBytes {
		return command{}, fmt.Errorf("%w: message of %d bytes", errDropCommand, len(msg))
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(msg))
	if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
		return command{}, fmt.Errorf("%w: not one JSON object", errDropCommand)
	}
	var id string
	if raw, ok := obj["id"]; !ok || json.Unmarshal(raw, &id) != nil {
		return command{}, fmt.Errorf("%w: no string id", errDropCommand)
	}
	if len(id) < 1 || len(id) > 64 || !printable(id, false) {
		return command{}, fmt.Errorf("%w: id is not 1-64 printable bytes", errDropCommand)
	}
	c := command{ID: id}
	raw, ok := obj["request"]
	if !ok || json.Unmarshal(raw, &c.Request) != nil || len(c.Request) < 1 || len(c.Request) > 1023 || !printable(c.Request, true) {
		c.Reply = "ERR - EINVAL request must be a string of 1-1023 printable ASCII bytes"
		return c, nil
	}
	fields := strings.Fields(c.Request)
	if len(fields) == 0 {
		c.Reply = "ERR - EINVAL empty request"
		return c, nil
	}
	c.Verb = fields[0]
	if !allowed[c.Verb] {
		c.Reply = "ERR " + truncate(c.Verb, 32) + " EPERM not allowed by the bridge"
	}
	return c, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// appendReply appends the JSON of a reply message: {"id":...,"reply":...}.
func appendReply(b []byte, id, reply string) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"reply":`...)
	b = appendJSONString(b, reply)
	return append(b, '}')
}

// ValidTopicPrefix reports whether p may start the bridge's topics: it rejects wildcards, empty levels and what MQTT forbids.
func ValidTopicPrefix(p string) bool {
	if p == "" || len(p) > 256 || !printable(p, false) || strings.ContainsAny(p, "+#") {
		return false
	}
	for l := range strings.SplitSeq(p, "/") {
		if l == "" {
			return false
		}
	}
	return true
}
