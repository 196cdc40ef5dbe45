"""Messages that name parameters, spelled by whoever shows them.

A library error or warning that tells the user which parameter to change
names it as a :class:`Param` in a template. Raised from Python, it reads
``"lower zdims"`` or ``"after max_epochs=20"``; the command line renders the
same message with its own options (``"lower --zdims"``, ``"after --epochs
20"``) through :meth:`ParameterMessage.render`, without editing any text.
This module imports nothing, so that the command line's error printing
stays light.
"""

__all__ = ["Param", "ParameterMessage", "ParameterError", "library_spelling"]

_MENTION = object()


class Param:
    """A parameter named in a message.

    ``Param("zdims")`` mentions it, ``Param("zdims", 16)`` names a value,
    ``Param("variable", placeholder="NAME")`` asks for one.
    """

    __slots__ = ("name", "value", "placeholder")

    def __init__(self, name, value=_MENTION, *, placeholder=None):
        self.name = name
        self.value = value
        self.placeholder = placeholder

    @property
    def has_value(self):
        """Whether the parameter is shown with its value (``zdims=3``) or named alone (``zdims``)."""
        return self.value is not _MENTION

    def __repr__(self):
        return f"Param({self.name!r}{'' if not self.has_value else f', {self.value!r}'})"


def library_spelling(param):
    """How the Python API names a parameter: ``zdims``, ``zdims=16`` with a value, ``variable=NAME``."""
    if param.placeholder is not None:
        return f"{param.name}={param.placeholder}"
    if not param.has_value:
        return param.name
    value = param.value
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return f"{param.name}={text}"


class ParameterMessage:
    """Mixin for exceptions and warnings whose text names parameters (see the module's doc).

    Parameters
    ----------
    template : str
        The message, with a ``{field}`` for each parameter named in ``fields``
        (and no other braces, when ``fields`` are given).
    **fields
        :class:`Param` instances, or any values to format as they are.
    """

    def __init__(self, template, **fields):
        self.template = template
        self.fields = fields
        super().__init__(self.render())

    def render(self, spell=library_spelling):
        """The message with each :class:`Param` spelled by ``spell(param)``."""
        if not self.fields:
            return self.template
        return self.template.format(
            **{key: spell(value) if isinstance(value, Param) else value for key, value in self.fields.items()}
        )

    def __str__(self):
        return self.render()


class ParameterError(ParameterMessage, ValueError):
    """A ValueError whose message names parameters to change."""
