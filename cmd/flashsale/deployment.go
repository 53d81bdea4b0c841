package main

import (
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/deployment"
	"github.com/flashsale/flashsale/notify"
)

// kind is the deployment the configuration asks for; it refuses half of
// the distributed one.
func (c *config) kind() (deployment.Kind, error) {
	switch {
	case c.RedisURL == "" && c.PostgresURL == "" && c.Ack == "redis":
		return "", errors.New("FLASHSALE_ACK=redis needs distributed mode (FLASHSALE_REDIS_URL and FLASHSALE_POSTGRES_URL)")
	case c.RedisURL == "" && c.PostgresURL == "":
		return deployment.Embedded, nil
	case c.RedisURL == "":
		return "", errors.New("distributed mode needs both FLASHSALE_REDIS_URL and FLASHSALE_POSTGRES_URL; FLASHSALE_REDIS_URL is not set")
	case c.PostgresURL == "":
		return "", errors.New("distributed mode needs both FLASHSALE_REDIS_URL and FLASHSALE_POSTGRES_URL; FLASHSALE_POSTGRES_URL is not set")
	case c.Ack == "redis":
		return deployment.DistributedRedisAck, nil
	}
	return deployment.Distributed, nil
}

// deployment is the deployment the configuration describes.
func (c *config) deployment(log *slog.Logger) (deployment.Config, error) {
	kind, err := c.kind()
	if err != nil {
		return deployment.Config{}, err
	}
	d := deployment.Config{
		Kind:          kind,
		DataDir:       c.DataDir,
		RedisURL:      c.RedisURL,
		RedisPrefix:   c.RedisPrefix,
		RedisTimeout:  c.RedisTimeout,
		PostgresURL:   c.PostgresURL,
		AckReplicas:   c.AckReplicas,
		NATSURL:       c.NATSURL,
		QueueName:     c.QueueName,
		QueueCapacity: c.QueueCapacity,
		Channels: func(broker flashsale.Broker) ([]notify.Channel, error) {
			return notificationChannels(c, log, broker)
		},
		Logger: log,
	}
	switch {
	case c.NATSURL != "":
		d.Queue = deployment.QueueNATS
	case kind != deployment.Embedded:
		// A queue in one process would not be shared by the fleet:
		// queued sales are refused.
		d.Queue = deployment.QueueNone
	case c.Queue == "memory":
		d.Queue = deployment.QueueMemory
	default:
		d.Queue, d.NATSDir = deployment.QueueNATS, filepath.Join(c.DataDir, "nats")
	}
	return d, nil
}
