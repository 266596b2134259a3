"""Forms of the members page (invite, change a role) and of the invitation page (a new account)."""

from django import forms

from labeling.models import Role


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EXPERT, label="Role")


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, label="Role")


class AccountForm(forms.Form):
    """The person's new account; the service validates the username and the password (Django's validators)."""

    username = forms.CharField(
        max_length=150, label="Username", widget=forms.TextInput(attrs={"autocomplete": "username"})
    )
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password_again = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password_again") and data["password"] != data["password_again"]:
            self.add_error("password_again", "The two passwords differ.")
        return data

    def add_problems(self, problems: dict[str, list[str]]) -> None:
        for field, messages in problems.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
