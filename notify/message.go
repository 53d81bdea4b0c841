package notify

import (
	"cmp"
	"embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/flashsale/flashsale"
)

// The messages people read (email, the console), one file per event:
// a "subject" template, then the body.
//
//go:embed templates/*.txt
var templateFiles embed.FS

var messageTemplates = func() map[flashsale.NotificationEvent]*template.Template {
	events := []flashsale.NotificationEvent{
		flashsale.EventOrderReserved, flashsale.EventPaymentDeclined, flashsale.EventOrderConfirmed,
		flashsale.EventPaymentFailed, flashsale.EventOrderExpired, flashsale.EventOrderCancelled, flashsale.EventOrderRefunded,
		flashsale.EventRequestRefused, flashsale.EventLotteryWon, flashsale.EventLotteryWaitlisted,
		flashsale.EventLotteryLost,
	}
	templates := make(map[flashsale.NotificationEvent]*template.Template, len(events))
	for _, event := range events {
		file := string(event) + ".txt"
		templates[event] = template.Must(template.New(file).Option("missingkey=error").
			ParseFS(templateFiles, "templates/"+file))
	}
	return templates
}()

// message is a notification written for a person.
type message struct {
	Subject string
	Body    string
}

// messageData is what the templates see: the notification with its
// amounts, times and refusals written out.
type messageData struct {
	flashsale.Notification
	Total    string // "499.00 USD"
	Deadline string // "2026-06-01 12:10 UTC"
	Refusal  string // why a queued request was refused, in words
}

// refusals say in words why a queued request made no order.
var refusals = map[string]string{
	flashsale.ESoldOut:              "the item sold out before your request's turn came",
	flashsale.EAlreadyPurchased:     "you already hold as many of this item as one customer may",
	flashsale.ESaleNotActive:        "the sale had ended when your request's turn came",
	flashsale.EQuantityExceedsLimit: "you asked for more than one customer may buy",
	flashsale.EInvalidQuantity:      "the quantity asked for was not valid",
}

func newMessage(n flashsale.Notification) (message, error) {
	t, ok := messageTemplates[n.Event]
	if !ok {
		return message{}, fmt.Errorf("notify: no message for event %q", n.Event)
	}
	data := messageData{
		Notification: n,
		Total:        n.Amount.String() + " " + n.Currency,
		Deadline:     n.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"),
		Refusal:      cmp.Or(refusals[n.Reason], "it could not be processed ("+n.Reason+")"),
	}
	var subject, body strings.Builder
	if err := t.ExecuteTemplate(&subject, "subject", data); err != nil {
		return message{}, err
	}
	if err := t.Execute(&body, data); err != nil {
		return message{}, err
	}
	// The event id lets a reader (and support) tell a repeat from a new
	// message.
	fmt.Fprintf(&body, "\n-- \nEvent %s (%s)\n", n.ID, n.Event)
	return message{Subject: subject.String(), Body: body.String()}, nil
}
