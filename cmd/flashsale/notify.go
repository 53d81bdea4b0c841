package main

import (
	"fmt"
	"log/slog"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/notify"
)

// notificationChannels are the channels the configuration turns on: the
// event streams always; the log unless it is off, so that a newcomer sees
// every order event on the console; email and webhooks when configured.
func notificationChannels(cfg *config, log *slog.Logger, broker flashsale.Broker) ([]notify.Channel, error) {
	channels := []notify.Channel{notify.NewLive(broker)}
	if cfg.NotifyLog {
		channels = append(channels, notify.NewLog(log))
	}
	if cfg.SMTPURL != "" {
		email, err := notify.NewEmail(notify.EmailConfig{URL: cfg.SMTPURL})
		if err != nil {
			return nil, fmt.Errorf("FLASHSALE_SMTP_URL: %w", err)
		}
		channels = append(channels, email)
	}
	for _, url := range cfg.WebhookURLs {
		webhook, err := notify.NewWebhook(url, cfg.WebhookSecret, nil)
		if err != nil {
			return nil, fmt.Errorf("FLASHSALE_WEBHOOK_URLS, FLASHSALE_WEBHOOK_SECRET: %w", err)
		}
		channels = append(channels, webhook)
	}
	return channels, nil
}
