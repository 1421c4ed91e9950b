package notify

import (
	"context"
	"fmt"

	"github.com/havencrm/haven/exportgov"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// KindLargeExport is the kind of the e-mail telling admins about an
// export above their notification threshold.
const KindLargeExport = "large_export"

var _ exportgov.Notifier = (*Notifier)(nil)

// LargeExport queues an e-mail telling an admin that someone exported at
// least the tenant's notification threshold of rows (exportgov.Notifier).
// It names the exporter, the size, the time and the export ID, never any
// exported data. An admin without an e-mail address is not told (nil).
func (n *Notifier) LargeExport(ctx context.Context, t tenant.Tenant, admin identity.User, e exportgov.Notice) error {
	if admin.Email == "" {
		return nil
	}
	m := largeExportMail(n.lang(t, admin), t, admin, e)
	return n.enqueue(ctx, m.Kind, "email", func(ctx context.Context) error { return n.o.Mailer.SendMail(ctx, m) })
}

func largeExportMail(l Language, t tenant.Tenant, u identity.User, e exportgov.Notice) Mail {
	name := greetingName(u)
	kind := map[string][2]string{"list": {"列表导出", "a list export"}, "full": {"全部数据导出", "an export of all data"}}[e.Kind]
	if kind[0] == "" {
		kind = [2]string{e.Kind, e.Kind}
	}
	body := text{
		zh: fmt.Sprintf("%s，您好：\n\n"+
			"「%s」（租户 %s）的用户 %s（编号 %s）于 %s 进行了%s，共 %d 行，达到了贵公司设定的通知阈值。\n"+
			"导出编号：%s\n\n"+
			"如非预期，请登录 Haven 查看审计日志（操作：export.list / export.full），并在「导出规则」中调整权限或每日额度。",
			name, t.Name, t.Slug, e.ActorName, e.ActorID, zhTime(e.At), kind[0], e.Rows, e.ExportID),
		en: fmt.Sprintf("Hello %s,\n\n"+
			"%s (user %s) of %s (tenant %s) made %s of %d rows at %s, at or above your notification threshold.\n"+
			"Export ID: %s\n\n"+
			"If you did not expect it, sign in to Haven and look at the audit log (actions export.list / export.full); the export rules set who may export and how much per day.",
			name, e.ActorName, e.ActorID, t.Name, t.Slug, kind[1], e.Rows, enTime(e.At), e.ExportID),
	}
	return Mail{To: u.Email, Kind: KindLargeExport, Subject: subject(l, fmt.Sprintf("Haven：%s 导出了 %d 行数据", e.ActorName, e.Rows),
		fmt.Sprintf("Haven: %s exported %d rows", e.ActorName, e.Rows)), Text: body.in(l)}
}
