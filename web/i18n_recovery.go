package web

// Strings of the "forgot password" pages. The wording never says whether
// an account exists: a code is sent "if" it does.
func init() {
	for k, v := range map[string][2]string{
		"login.forgot":           {"Forgot your password?", "忘记密码？"},
		"recover.title":          {"Reset your password", "找回密码"},
		"recover.heading":        {"Reset your password", "找回密码"},
		"recover.subtitle":       {"Enter your organization and login. If the account exists and can receive messages over the channel you choose, we will send it a 6-digit code.", "请输入组织标识和账号。如果该账号存在并可通过您选择的方式接收消息，我们会向其发送 6 位验证码。"},
		"recover.channel":        {"Send the code by", "验证码发送方式"},
		"recover.channel.email":  {"E-mail", "邮件"},
		"recover.channel.sms":    {"Text message (SMS)", "短信"},
		"recover.submit":         {"Send code", "发送验证码"},
		"recover.missing":        {"Please fill in the organization and login, and choose how to receive the code.", "请填写组织标识和账号，并选择验证码的接收方式。"},
		"recover.rate":           {"Too many requests. Please try again in %d minutes.", "请求过于频繁，请 %d 分钟后再试。"},
		"recover.have_code":      {"I already have a code", "我已有验证码"},
		"recover.back":           {"Back to sign in", "返回登录"},
		"recover.again":          {"Did not get a code? Ask again", "没有收到验证码？重新获取"},
		"recover.finish_title":   {"Set a new password", "设置新密码"},
		"recover.finish_heading": {"Set a new password", "设置新密码"},
		"recover.finish_subtitle": {"Enter the code we sent and choose a new password. Setting it signs you out everywhere.",
			"请输入收到的验证码并设置新密码。设置成功后，您在所有设备上的会话都将退出。"},
		"recover.code":          {"Code", "验证码"},
		"recover.code_hint":     {"6 digits, valid for 10 minutes, usable once. Haven staff will never ask you for it.", "6 位数字，10 分钟内有效，只能使用一次。Haven 工作人员绝不会向您索要验证码。"},
		"recover.bad_code":      {"The code is wrong or has expired. After 5 wrong tries a code stops working; ask for a new one.", "验证码错误或已过期。输错 5 次后验证码即失效，请重新获取。"},
		"recover.finish_submit": {"Set new password", "设置新密码"},
		"flash.recovery_sent": {"If the account exists and can receive messages over that channel, a code is on its way. It is valid for 10 minutes.",
			"如果该账号存在并可通过该方式接收消息，验证码已发出，10 分钟内有效。"},
		"flash.password_recovered": {"Your password was reset and all of your sessions were ended. Sign in with your new password.", "密码已重置，您的所有会话均已结束。请使用新密码登录。"},
	} {
		catalog[k] = v
	}
}
