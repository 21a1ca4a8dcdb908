"""Forms of the accounts area; every form holding a password or a code is POSTed."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional

from portal.accounts import password_policy as policy

#: the password rules as shown on every form that sets a password (SEC-AUT-3g), keyed like
#: `password_policy.RULES`
RULE_TEXTS: dict[str, Any] = {
    "four_classes": _l(
        "At least %(n)d characters with an upper-case letter, a lower-case letter, a digit "
        "and a special character;", n=policy.MIN_LENGTH_FOUR_CLASSES),
    "three_classes": _l(
        "or at least %(n)d characters with an upper-case letter, a lower-case letter and a "
        "digit;", n=policy.MIN_LENGTH_THREE_CLASSES),
    "passphrase": _l(
        "or a passphrase of at least %(n)d different words separated by spaces;",
        n=policy.MIN_PASSPHRASE_WORDS),
    "entropy": _l(
        "or any password worth at least %(bits)d bits by the CNIL formula, for example 18 "
        "random lower-case letters or 25 random digits.", bits=int(policy.MIN_ENTROPY_BITS)),
    "length": _l(
        "At most %(n)d characters. Spaces, accents and any printable character are allowed; "
        "upper and lower case are distinct.", n=policy.MAX_LENGTH),
    "common": _l("Common passwords and their variants are refused."),
    "personal": _l(
        "The password must not contain your login, e-mail, first or last name, or the name of "
        "the product, laboratory or portal."),
}

#: why a password was refused, keyed like `password_policy.Reason`
REASON_TEXTS: dict[str, Any] = {
    policy.Reason.INVALID_CHARACTER: _l("The password contains a control or invisible "
                                        "character."),
    policy.Reason.TOO_LONG: _l("The password is longer than %(n)d characters.",
                               n=policy.MAX_LENGTH),
    policy.Reason.TOO_SHORT: _l("The password is shorter than %(n)d characters.",
                                n=policy.MIN_LENGTH),
    policy.Reason.TOO_WEAK: _l("The password does not meet any of the accepted rules."),
    policy.Reason.COMMON: _l("The password is a common password or a variant of one."),
    policy.Reason.CONTAINS_PERSONAL: _l(
        "The password contains your login, e-mail, name, or the name of the product, "
        "laboratory or portal."),
}


def rule_texts() -> list[str]:
    """Return the policy rules, translated, in the order of `password_policy.RULES`."""
    return [str(RULE_TEXTS[rule.key]) for rule in policy.RULES]


def reason_texts(reasons: list[str]) -> list[str]:
    """Return the translated messages of refusal reason codes."""
    return [str(REASON_TEXTS.get(code, REASON_TEXTS[policy.Reason.TOO_WEAK]))
            for code in reasons]


class LoginForm(FlaskForm):
    login = StringField(_l("Login"), validators=[DataRequired()],
                        render_kw={"autocomplete": "username", "autocapitalize": "none",
                                   "spellcheck": "false"})
    # No length validator: an over-long password is refused like any wrong one, never cut.
    password = PasswordField(_l("Password"), validators=[DataRequired()],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class CodeForm(FlaskForm):
    code = StringField(_l("6-digit code from your authenticator application"),
                       validators=[DataRequired(), Length(max=16)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class RecoveryForm(FlaskForm):
    code = StringField(_l("Recovery code"), validators=[DataRequired(), Length(max=40)],
                       render_kw={"autocomplete": "off", "autocapitalize": "none",
                                  "spellcheck": "false"})


def _new_password_fields() -> tuple[PasswordField, PasswordField]:
    """The new password and its confirmation; created where the form declares them, so they
    keep their place among its fields."""
    return (
        PasswordField(_l("New password"), validators=[InputRequired()],
                      render_kw={"autocomplete": "new-password"}),
        PasswordField(
            _l("New password again"),
            validators=[InputRequired(), EqualTo("new_password",
                                                 message=_l("The two passwords differ."))],
            render_kw={"autocomplete": "new-password"}),
    )


class NewPasswordForm(FlaskForm):
    new_password, confirm = _new_password_fields()


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[InputRequired()],
                                     render_kw={"autocomplete": "current-password"})
    new_password, confirm = _new_password_fields()


class RegenerateForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[InputRequired()],
                             render_kw={"autocomplete": "current-password"})
    code = StringField(_l("6-digit code from your authenticator application"),
                       validators=[DataRequired(), Length(max=16)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class LogoutForm(FlaskForm):
    """Only the CSRF token: logging out is a POST."""


class UserForm(FlaskForm):
    login = StringField(_l("Login"), validators=[DataRequired(), Length(min=3, max=64)],
                        description=_l("Personal, e.g. c.martin. Generic names are refused."))
    first_name = StringField(_l("First name"), validators=[DataRequired(), Length(max=80)])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=80)])
    email = StringField(_l("Professional e-mail"), validators=[DataRequired(), Length(max=254)],
                        description=_l("The activation link is sent to this address."))
    phone = StringField(_l("Professional telephone"), validators=[Optional(), Length(max=32)])
    specialty = StringField(_l("Specialty or job title"),
                            validators=[Optional(), Length(max=80)])
    rpps = StringField(_l("RPPS number"), validators=[Optional(), Length(max=14)],
                       description=_l("Healthcare professionals only: 11 digits."))
    locale = SelectField(_l("Language"), choices=[SelectChoice("", _l("Browser language")),
                                                  SelectChoice("fr", "Français"),
                                                  SelectChoice("en", "English")],
                         default="")


class UserActionForm(FlaskForm):
    user_id = HiddenField(validators=[DataRequired()])


class ResetForm(UserActionForm):
    reset_second_factor = BooleanField(
        _l("Also reset the second factor (lost telephone): the person enrols again"))
