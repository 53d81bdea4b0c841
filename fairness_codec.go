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

// challengeJSON is the "challenge" object as the API shows it and the
// stores keep it.
type challengeJSON struct {
	Policy    ChallengePolicy `json:"policy"`
	MaxNumber int64           `json:"max_number"`
	Pace      int64           `json:"pace,omitempty"`
}

// MarshalJSON writes the configuration as the API's "challenge" object.
func (c ChallengeConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(challengeJSON(c))
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (c *ChallengeConfig) UnmarshalJSON(b []byte) error {
	var v challengeJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*c = ChallengeConfig(v)
	return nil
}

// StoredFairness is how the stores keep a sale's fairness settings: each
// object as its API JSON and the queue's seed in hex, nil where the sale
// has none.
type StoredFairness struct {
	WaitingRoom, QueueSeed, Challenge, Limits, Lottery, LotterySeed *string
}

// EncodeFairness is the sale's fairness settings as the stores keep them.
func EncodeFairness(sale *Sale) (StoredFairness, error) {
	var f StoredFairness
	if sale.WaitingRoom != nil {
		b, err := json.Marshal(sale.WaitingRoom)
		if err != nil {
			return f, err
		}
		text, hex := string(b), sale.QueueSeed.String()
		f.WaitingRoom, f.QueueSeed = &text, &hex
	}
	if sale.Challenge != nil {
		b, err := json.Marshal(sale.Challenge)
		if err != nil {
			return f, err
		}
		text := string(b)
		f.Challenge = &text
	}
	if sale.Limits != nil {
		b, err := json.Marshal(sale.Limits)
		if err != nil {
			return f, err
		}
		text := string(b)
		f.Limits = &text
	}
	if sale.Lottery != nil {
		b, err := json.Marshal(sale.Lottery)
		if err != nil {
			return f, err
		}
		text, hex := string(b), sale.LotterySeed.String()
		f.Lottery, f.LotterySeed = &text, &hex
	}
	return f, nil
}

// Decode reads back into sale what EncodeFairness wrote.
func (f StoredFairness) Decode(sale *Sale) error {
	if f.WaitingRoom != nil {
		sale.WaitingRoom = new(WaitingRoomConfig)
		if err := json.Unmarshal([]byte(*f.WaitingRoom), sale.WaitingRoom); err != nil {
			return fmt.Errorf("waiting room of sale %s: %w", sale.ID, err)
		}
		if f.QueueSeed == nil {
			return fmt.Errorf("waiting room of sale %s: no seed", sale.ID)
		}
		seed, err := draw.ParseSeed(*f.QueueSeed)
		if err != nil {
			return fmt.Errorf("queue seed of sale %s: %w", sale.ID, err)
		}
		sale.QueueSeed = seed
	}
	if f.Challenge != nil {
		sale.Challenge = new(ChallengeConfig)
		if err := json.Unmarshal([]byte(*f.Challenge), sale.Challenge); err != nil {
			return fmt.Errorf("challenge of sale %s: %w", sale.ID, err)
		}
	}
	if f.Limits != nil {
		sale.Limits = new(PurchaseLimits)
		if err := json.Unmarshal([]byte(*f.Limits), sale.Limits); err != nil {
			return fmt.Errorf("limits of sale %s: %w", sale.ID, err)
		}
	}
	if f.Lottery != nil {
		sale.Lottery = new(LotteryConfig)
		if err := json.Unmarshal([]byte(*f.Lottery), sale.Lottery); err != nil {
			return fmt.Errorf("lottery of sale %s: %w", sale.ID, err)
		}
		if f.LotterySeed == nil {
			return fmt.Errorf("lottery of sale %s: no seed", sale.ID)
		}
		seed, err := draw.ParseSeed(*f.LotterySeed)
		if err != nil {
			return fmt.Errorf("lottery seed of sale %s: %w", sale.ID, err)
		}
		sale.LotterySeed = seed
	}
	return nil
}
