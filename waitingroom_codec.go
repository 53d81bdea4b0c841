package flashsale

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/flashsale/flashsale/draw"
)

// DefaultWaitingRoom is the configuration a sale's "waiting_room" object
// starts from: what it does not say takes these values. Only the admission
// rate has none; it is required.
func DefaultWaitingRoom() WaitingRoomConfig {
	return WaitingRoomConfig{
		Session:  600 * time.Second,
		PreQueue: 900 * time.Second,
		Order:    QueueFIFO,
		Abandon:  60 * time.Second,
		Overbook: 2,
	}
}

// waitingRoomJSON is the "waiting_room" object as the API shows it and
// the stores keep it.
type waitingRoomJSON struct {
	AdmitPerMinute  int64      `json:"admit_per_minute"`
	MaxActive       int64      `json:"max_active"`
	SessionSeconds  int64      `json:"session_seconds"`
	PreQueueSeconds int64      `json:"pre_queue_seconds"`
	Order           QueueOrder `json:"order"`
	AbandonSeconds  int64      `json:"abandon_seconds"`
	Overbook        float64    `json:"overbook"`
}

// MarshalJSON writes the configuration as the API's "waiting_room" object.
func (c WaitingRoomConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(waitingRoomJSON{
		AdmitPerMinute:  c.AdmitPerMinute,
		MaxActive:       c.MaxActive,
		SessionSeconds:  int64(c.Session / time.Second),
		PreQueueSeconds: int64(c.PreQueue / time.Second),
		Order:           c.Order,
		AbandonSeconds:  int64(c.Abandon / time.Second),
		Overbook:        c.Overbook,
	})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (c *WaitingRoomConfig) UnmarshalJSON(b []byte) error {
	var v waitingRoomJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*c = WaitingRoomConfig{
		AdmitPerMinute: v.AdmitPerMinute,
		MaxActive:      v.MaxActive,
		Session:        time.Duration(v.SessionSeconds) * time.Second,
		PreQueue:       time.Duration(v.PreQueueSeconds) * time.Second,
		Order:          v.Order,
		Abandon:        time.Duration(v.AbandonSeconds) * time.Second,
		Overbook:       v.Overbook,
	}
	return nil
}

// EncodeWaitingRoom is how the stores keep a sale's waiting room: the
// settings as JSON and the seed in hex, both nil for a sale without one.
func EncodeWaitingRoom(sale *Sale) (settings, seed *string, err error) {
	if sale.WaitingRoom == nil {
		return nil, nil, nil
	}
	b, err := json.Marshal(sale.WaitingRoom)
	if err != nil {
		return nil, nil, err
	}
	text, hex := string(b), sale.QueueSeed.String()
	return &text, &hex, nil
}

// DecodeWaitingRoom reads back what EncodeWaitingRoom wrote ("" for nil).
func DecodeWaitingRoom(sale *Sale, settings, seed string) error {
	if settings == "" {
		return nil
	}
	sale.WaitingRoom = new(WaitingRoomConfig)
	if err := json.Unmarshal([]byte(settings), sale.WaitingRoom); err != nil {
		return fmt.Errorf("waiting room of sale %s: %w", sale.ID, err)
	}
	parsed, err := draw.ParseSeed(seed)
	if err != nil {
		return fmt.Errorf("queue seed of sale %s: %w", sale.ID, err)
	}
	sale.QueueSeed = parsed
	return nil
}
