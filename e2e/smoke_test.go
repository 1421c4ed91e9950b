package e2e

import (
	"context"
	"testing"

	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/internal/testserver"
)

func TestSmoke(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			tn := srv.NewTenant(t, "acme")
			ctx := context.Background()
			rec, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "华为技术有限公司", "annual_revenue": 1234.5}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := tn.Admin.GetRecord(ctx, "account", rec.ID)
			if err != nil || got.Name != "华为技术有限公司" {
				t.Fatalf("get: %+v %v", got, err)
			}
			_ = testdb.EnvPostgres
		})
	}
}
