package web

import "github.com/havencrm/haven/identity"

func init() {
	for k, v := range lockoutCatalog {
		catalog[k] = v
	}
	auditActions = append(auditActions, identity.ActionLocked, identity.ActionUnlocked, identity.ActionCaptchaFailed)
}

var lockoutCatalog = map[string][2]string{
	// Sign-in with the CAPTCHA step-up and the lock.
	"login.captcha":       {"Please type the digits in the picture and sign in again.", "请输入图中的数字后重新登录。"},
	"login.captcha_wrong": {"The digits did not match the picture. Here is a new one; please type it and your password again.", "数字与图片不符。已换一张新图片，请重新输入图中数字和密码。"},
	"login.captcha_label": {"Digits in the picture", "图中的数字"},
	"login.captcha_alt":   {"Security check: six digits", "安全验证：六位数字"},
	"login.captcha_hint":  {"After several failed sign-ins we ask for this check. Each picture works once and for 5 minutes.", "多次登录失败后需要完成此项验证。每张图片只能使用一次，5 分钟内有效。"},
	"login.locked_until":  {"Too many failed sign-ins: this account is locked until %s. Try again then, or ask your administrator to unlock it.", "登录失败次数过多，该账号已锁定至 %s。请届时再试，或联系管理员解锁。"},
	"login.locked_admin":  {"Too many failed sign-ins: this account is locked until an administrator unlocks it.", "登录失败次数过多，该账号已锁定，需由管理员解锁。"},
	"login.ip_denied":     {"Your organization does not allow signing in from this network.", "贵组织不允许从当前网络登录。"},

	// Users page.
	"users.locked":               {"Locked", "已锁定"},
	"users.locked_until":         {"Locked until %s", "锁定至 %s"},
	"users.failures":             {"%d failed sign-ins", "登录失败 %d 次"},
	"users.unlock":               {"Unlock", "解锁"},
	"users.unlock_q":             {"Clear the failed sign-ins and the lock of %s?", "清除 %s 的登录失败记录并解锁？"},
	"users.unlock_yes":           {"Unlock now", "立即解锁"},
	"flash.user_unlocked":        {"User unlocked: they can sign in again.", "用户已解锁，可以重新登录。"},
	"action.auth.locked":         {"Account locked", "账号锁定"},
	"action.user.unlock":         {"User unlocked", "解锁用户"},
	"action.auth.captcha_failed": {"CAPTCHA failed", "验证码错误"},

	// Audit details.
	"reason.account locked":   {"Account locked", "账号已锁定"},
	"reason.captcha required": {"CAPTCHA not solved", "未完成验证码"},
	"reason.wrong captcha":    {"Wrong CAPTCHA", "验证码错误"},
	"reason.ip not allowed":   {"Network address not allowed", "网络地址不在允许范围内"},
	"ufield.failures":         {"Failed sign-ins", "登录失败次数"},
	"ufield.locked":           {"Locked", "已锁定"},
	"ufield.locked_until":     {"Locked until", "锁定至"},
	"ufield.sessions_ended":   {"Sessions ended", "结束的会话"},
}
