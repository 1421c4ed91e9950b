package notify

import (
	"fmt"
	"github.com/havencrm/haven/supportaccess"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// Language is the language of a message.
type Language string

const (
	// Bilingual messages carry Simplified Chinese first, then English.
	Bilingual Language = "bilingual"
	Chinese   Language = "zh-CN"
	English   Language = "en"
)

// Message kinds, as logged and as sent to the SMS webhook.
const (
	KindRecoveryCode  = "recovery_code"
	KindAccountLocked = "account_locked"
	KindAccessRequest = "access_request"
	KindAccessEnded   = "access_ended"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		// China has used one fixed offset without daylight saving since 1991.
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}()

func zhTime(t time.Time) string {
	return t.In(shanghai).Format("2006-01-02 15:04") + "（北京时间）"
}

func enTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

func greetingName(u identity.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Login()
}

// text is one message in both languages.
type text struct{ zh, en string }

func (t text) in(l Language) string {
	switch l {
	case Chinese:
		return t.zh
	case English:
		return t.en
	}
	return t.zh + "\n\n———— English ————\n\n" + t.en
}

func subject(l Language, zh, en string) string {
	switch l {
	case Chinese:
		return zh
	case English:
		return en
	}
	return zh + " / " + en
}

func minutesUntil(now, t time.Time) int {
	m := int(t.Sub(now).Round(time.Minute) / time.Minute)
	return max(m, 1)
}

// recoveryMail is the e-mail carrying a recovery code.
func recoveryMail(l Language, t tenant.Tenant, u identity.User, code string, expires, now time.Time) Mail {
	mins := minutesUntil(now, expires)
	name := greetingName(u)
	body := text{
		zh: fmt.Sprintf("%s，您好：\n\n"+
			"有人请求找回您在「%s」（租户 %s）的 Haven 账号密码。\n\n"+
			"验证码：%s\n\n"+
			"验证码 %d 分钟内有效（至 %s），只能使用一次。\n\n"+
			"如果这不是您本人的操作，请忽略本邮件，您的密码不会改变；如果反复收到，请告知贵公司的 Haven 管理员。\n"+
			"请勿将验证码告诉任何人：Haven 及其工作人员绝不会向您索要验证码。",
			name, t.Name, t.Slug, code, mins, zhTime(expires)),
		en: fmt.Sprintf("Hello %s,\n\n"+
			"Someone asked to reset the password of your Haven account at %s (tenant %s).\n\n"+
			"Your code: %s\n\n"+
			"It is valid for %d minutes (until %s) and works once.\n\n"+
			"If this was not you, ignore this message: your password stays unchanged. If it keeps happening, tell your company's Haven administrator.\n"+
			"Never share the code: Haven and its staff will never ask you for it.",
			name, t.Name, t.Slug, code, mins, enTime(expires)),
	}
	return Mail{To: u.Email, Kind: KindRecoveryCode, Subject: subject(l, "Haven 密码找回验证码", "Your Haven password recovery code"), Text: body.in(l)}
}

// recoverySMS is the text carrying a recovery code.
func recoverySMS(l Language, u identity.User, code string, expires, now time.Time) SMS {
	mins := minutesUntil(now, expires)
	body := text{
		zh: fmt.Sprintf("【Haven】您的密码找回验证码为 %s，%d 分钟内有效。如非本人操作请忽略，切勿告诉他人。", code, mins),
		en: fmt.Sprintf("Haven: your password recovery code is %s, valid for %d minutes. If this was not you, ignore it. Never share it.", code, mins),
	}
	s := body.in(l)
	if l != Chinese && l != English {
		s = body.zh + " " + body.en
	}
	return SMS{To: u.Phone, Kind: KindRecoveryCode, Lang: string(l), Text: s, Template: KindRecoveryCode,
		Params: map[string]string{"code": code, "minutes": strconv.Itoa(mins)}}
}

// lockedMail tells a user their account was locked.
func lockedMail(l Language, t tenant.Tenant, u identity.User, until *time.Time) Mail {
	name := greetingName(u)
	zhUntil := "在管理员解锁之前，您将无法登录。"
	enUntil := "You cannot sign in until an administrator unlocks it."
	if until != nil {
		zhUntil = fmt.Sprintf("账号将于 %s 自动解锁。", zhTime(*until))
		enUntil = fmt.Sprintf("It unlocks by itself at %s.", enTime(*until))
	}
	body := text{
		zh: fmt.Sprintf("%s，您好：\n\n"+
			"由于多次登录失败，您在「%s」（租户 %s）的 Haven 账号已被锁定。%s\n\n"+
			"如果这些登录尝试不是您本人所为，说明有人可能在猜测您的密码：请在解锁后修改密码，并告知贵公司的 Haven 管理员。",
			name, t.Name, t.Slug, zhUntil),
		en: fmt.Sprintf("Hello %s,\n\n"+
			"Your Haven account at %s (tenant %s) was locked after repeated failed sign-ins. %s\n\n"+
			"If those attempts were not yours, someone may be guessing your password: change it once you are back in, and tell your company's Haven administrator.",
			name, t.Name, t.Slug, enUntil),
	}
	return Mail{To: u.Email, Kind: KindAccountLocked, Subject: subject(l, "Haven 账号已锁定", "Your Haven account was locked"), Text: body.in(l)}
}

// accessRequestMail tells a tenant admin that a vendor operator asks for
// access, what for, and where to decide. It holds no tenant data.
func accessRequestMail(l Language, t tenant.Tenant, u identity.User, g supportaccess.Grant) Mail {
	name := greetingName(u)
	write := map[bool][2]string{false: {"只读", "read-only"}, true: {"可修改", "read and write"}}[g.Scope.Write]
	objects := strings.Join(g.Scope.Objects, ", ")
	hours := g.Duration.Hours()
	body := text{
		zh: fmt.Sprintf("%s，您好：\n\n"+
			"Haven 的运维人员（编号 %s）申请访问「%s」（租户 %s）的数据。\n"+
			"原因：%s\n工单：%s\n范围：%s（%s），最长 %.0f 小时\n\n"+
			"未经贵公司管理员书面批准，运维人员看不到任何数据。请登录 Haven，在「支持访问」页面批准（可缩小范围、缩短时间）或拒绝。每一次访问都会记录在贵公司的审计日志中。",
			name, g.OperatorID, t.Name, t.Slug, g.Reason, g.Ticket, objects, write[0], hours),
		en: fmt.Sprintf("Hello %s,\n\n"+
			"A Haven operator (ID %s) asks for access to the data of %s (tenant %s).\n"+
			"Reason: %s\nTicket: %s\nScope: %s (%s), for at most %.0f hours\n\n"+
			"Without a written approval by one of your administrators the operator sees nothing. Sign in to Haven and approve (you may narrow the scope and shorten the time) or deny it on the Support access page. Every access is recorded in your audit log.",
			name, g.OperatorID, t.Name, t.Slug, g.Reason, g.Ticket, objects, write[1], hours),
	}
	return Mail{To: u.Email, Kind: KindAccessRequest, Subject: subject(l, "Haven 运维访问申请待您审批", "A Haven operator asks for access to your data"), Text: body.in(l)}
}

// ParseLanguage reads a configured language; anything unknown is
// bilingual.
func ParseLanguage(s string) Language {
	switch strings.ToLower(s) {
	case "zh-cn", "zh":
		return Chinese
	case "en":
		return English
	}
	return Bilingual
}

// accessEndedMail is the digest of an ended grant: when, how it ended and
// every record the operator viewed or changed, by ID only, so the e-mail
// carries no customer data of its own.
func accessEndedMail(l Language, t tenant.Tenant, u identity.User, d supportaccess.Digest) Mail {
	g := d.Grant
	name := greetingName(u)
	how := map[supportaccess.State][2]string{supportaccess.Revoked: {"已被撤销", "was revoked"}, supportaccess.Expired: {"已到期", "expired"}}[g.State]
	if how[0] == "" {
		how = [2]string{string(g.State), string(g.State)}
	}
	window := func(zh bool) string {
		if g.ActiveFrom == nil {
			return "—"
		}
		end := g.ExpiresAt
		if g.EndedAt != nil {
			end = g.EndedAt
		}
		sep := " to "
		if zh {
			sep = " 至 "
		}
		s := g.ActiveFrom.UTC().Format("2006-01-02 15:04 UTC")
		if end != nil {
			s += sep + end.UTC().Format("2006-01-02 15:04 UTC")
		}
		return s
	}
	var lines strings.Builder
	for _, use := range d.Uses {
		what := use.What
		if what == "" {
			what = strings.TrimPrefix(use.Action, "record.")
		}
		fmt.Fprintf(&lines, "- %s  %s  %s", use.At.UTC().Format("2006-01-02 15:04:05"), what, use.Object)
		if use.RecordID != "" {
			fmt.Fprintf(&lines, "  %s", use.RecordID)
		} else if use.Records > 0 {
			fmt.Fprintf(&lines, "  (%d)", use.Records)
		}
		lines.WriteString("\n")
	}
	if lines.Len() == 0 {
		lines.WriteString("-\n")
	}
	body := text{
		zh: fmt.Sprintf("%s，您好：\n\n"+
			"运维人员（编号 %s）对「%s」（租户 %s）的访问授权 %s %s。\n"+
			"工单：%s\n原因：%s\n有效期：%s\n\n"+
			"授权期间，运维人员查看了 %d 条记录，修改了 %d 条记录：\n%s",
			name, g.OperatorID, t.Name, t.Slug, g.ID, how[0], g.Ticket, g.Reason, window(true), d.Reads, d.Changes, lines.String()),
		en: fmt.Sprintf("Hello %s,\n\n"+
			"The access grant %s of operator %s to the data of %s (tenant %s) %s.\n"+
			"Ticket: %s\nReason: %s\nWindow: %s\n\n"+
			"Under it the operator viewed %d records and changed %d:\n%s",
			name, g.ID, g.OperatorID, t.Name, t.Slug, how[1], g.Ticket, g.Reason, window(false), d.Reads, d.Changes, lines.String()),
	}
	if d.Omitted > 0 {
		body.zh += fmt.Sprintf("另有 %d 项未列出。", d.Omitted)
		body.en += fmt.Sprintf("%d more are not listed here. ", d.Omitted)
	}
	body.zh += "\n完整记录见 Haven 的审计日志（操作：support.use）。"
	body.en += "\nThe audit log in Haven has the complete record (action support.use)."
	return Mail{To: u.Email, Kind: KindAccessEnded, Subject: subject(l, "运维访问授权已结束：操作摘要", "An operator's access to your data has ended: what was done"), Text: body.in(l)}
}
