package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/client"
)

// commandLoop serves remote requests (C.5) one at a time, in arrival order:
// from the publisher's cmd topic, through the session's connection to
// mypolld, and the reply back through the publisher.
func (b *Bridge) commandLoop(ctx context.Context) {
	for {
		var msg []byte
		select {
		case msg = <-b.cmds:
		case <-ctx.Done():
			return
		}
		cmd, err := parseCommand(msg, b.cfg.Allowed)
		if err != nil {
			b.log.Warn("remote request dropped", "error", err)
			continue
		}
		reply := cmd.Reply
		if reply == "" {
			reply = b.forward(ctx, cmd)
		} else {
			b.log.Warn("remote request refused", "id", hclog.Quote(cmd.ID), "reply", hclog.Quote(reply))
		}
		if err := b.pub.publishReply(appendReply(nil, cmd.ID, reply)); err != nil {
			b.log.Warn("reply not published", "id", hclog.Quote(cmd.ID), "error", err)
		}
	}
}

// forward sends an allowed request to mypolld and returns its reply line.
func (b *Bridge) forward(ctx context.Context, cmd command) string {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err := b.sess.do(rctx, cmd.Request)
	var perr *client.Error
	switch {
	case errors.Is(err, client.ErrNotConnected):
		return "ERR " + truncate(cmd.Verb, 32) + " EIO mypolld not connected"
	case errors.As(err, &perr):
		return "ERR " + perr.Verb + " " + perr.Errno + " " + perr.Msg
	case err != nil:
		return "ERR " + truncate(cmd.Verb, 32) + " EIO " + err.Error()
	case rep.File != nil:
		_ = rep.File.Close()
	}
	line := "OK " + rep.Verb
	if rep.Detail != "" {
		line += " " + rep.Detail
	}
	return line
}
