"""The ``--set`` what-if syntax, shared by the library's errors and the command's help."""

SET_SYNTAX = (
    "PATH=VALUE, e.g. mix.fields.replyParameters.generatePersonality='{true: 0.5, false: 0.5}'"
    " or population.new_personas_per_day=50"
)
