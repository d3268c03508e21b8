"""The inputs every benchmark shares, so that their figures describe the same messages."""

#: A connection-file-style key (the raw bytes of the string are the HMAC key).
KEY = b"a0436f6c-1916-498b-8eb9-e81ab9368e84"

#: The content of a typical small execute_request.
EXECUTE_REQUEST = {
    "code": "import numpy as np\nprint(np.arange(10).sum())",
    "silent": False,
    "store_history": True,
    "user_expressions": {},
    "allow_stdin": True,
    "stop_on_error": True,
}
