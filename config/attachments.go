package config

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// Attachments configures files attached to records.
type Attachments struct {
	// Dir holds the encrypted files; empty means <data>/attachments.
	Dir string
	// MaxBytes bounds one file's size.
	MaxBytes int64
}

// Attachment size limits accepted in configuration.
const (
	minAttachmentBytes = 1 << 10
	maxAttachmentBytes = 4 << 30
)

func defaultAttachments() Attachments { return Attachments{MaxBytes: 25 << 20} }

// AttachmentDirPath is where the encrypted attachment files live.
func (c Config) AttachmentDirPath() string {
	if c.Attachments.Dir != "" {
		return c.Attachments.Dir
	}
	return filepath.Join(c.DataDir, "attachments")
}

func attachmentSettings() []setting {
	return []setting{
		{
			key:   "attachment-dir",
			usage: "directory of the encrypted attachment files (default <data>/attachments)",
			get:   func(c *Config) string { return c.Attachments.Dir },
			set:   func(c *Config, v string) error { c.Attachments.Dir = v; return nil },
		},
		{
			key:   "attachment-max-bytes",
			usage: "largest file that may be attached to a record, in bytes",
			get:   func(c *Config) string { return strconv.FormatInt(c.Attachments.MaxBytes, 10) },
			set: func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < minAttachmentBytes || n > maxAttachmentBytes {
					return fmt.Errorf("must be a whole number of bytes between %d and %d", minAttachmentBytes, int64(maxAttachmentBytes))
				}
				c.Attachments.MaxBytes = n
				return nil
			},
		},
	}
}
