package config_test

import (
	"path/filepath"
	"testing"

	"github.com/havencrm/haven/config"
)

func TestAttachmentSettings(t *testing.T) {
	c, err := load(t, nil, "--data", "/srv/haven")
	if err != nil {
		t.Fatal(err)
	}
	if c.AttachmentDirPath() != filepath.Join("/srv/haven", "attachments") || c.Attachments.MaxBytes != 25<<20 {
		t.Errorf("defaults: dir %q, max %d", c.AttachmentDirPath(), c.Attachments.MaxBytes)
	}
	c, err = load(t, map[string]string{"HAVEN_ATTACHMENT_DIR": "/mnt/files", "HAVEN_ATTACHMENT_MAX_BYTES": "1048576"})
	if err != nil || c.AttachmentDirPath() != "/mnt/files" || c.Attachments.MaxBytes != 1<<20 {
		t.Errorf("environment: %+v, %v", c.Attachments, err)
	}
	c, err = load(t, nil, "--config", writeFile(t, `{"attachment_dir": "/x", "attachment_max_bytes": 2097152}`), "--attachment-max-bytes", "4096")
	if err != nil || c.Attachments != (config.Attachments{Dir: "/x", MaxBytes: 4096}) {
		t.Errorf("file and flag: %+v, %v", c.Attachments, err)
	}
	for _, bad := range []string{"0", "-1", "1023", "25MB", "5368709121"} {
		_, err := load(t, nil, "--attachment-max-bytes", bad)
		mustErr(t, err, "attachment-max-bytes", "between")
	}
}
