package notify

import (
	"context"
	"log/slog"

	"github.com/flashsale/flashsale"
)

// Log is the channel of the default embedded configuration: one plain
// line per event in the service's log, so a newcomer sees notifications
// without setting anything up.
type Log struct {
	logger *slog.Logger
}

// NewLog returns a channel that writes to logger.
func NewLog(logger *slog.Logger) *Log { return &Log{logger: logger} }

// Name is "log".
func (*Log) Name() string { return "log" }

// Deliver writes the message's subject with the event's ids.
func (l *Log) Deliver(ctx context.Context, n flashsale.Notification) error {
	m, err := newMessage(n)
	if err != nil {
		return Permanent(err)
	}
	attrs := []slog.Attr{slog.String("event", string(n.Event)), slog.String("user_id", n.UserID)}
	switch {
	case n.OrderID != "":
		attrs = append(attrs, slog.String("order_id", n.OrderID))
	case n.EntryID == "":
		attrs = append(attrs, slog.String("request_id", n.RequestID))
	}
	// A lottery event is about an entry; lottery.won about its order too.
	if n.EntryID != "" {
		attrs = append(attrs, slog.String("entry_id", n.EntryID))
	}
	attrs = append(attrs, slog.String("notification_id", n.ID))
	l.logger.LogAttrs(ctx, slog.LevelInfo, "notification: "+m.Subject, attrs...)
	return nil
}
