"""One router per resource: /heroes/ and /teams/."""
