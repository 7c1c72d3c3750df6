"""The JSON body of every error answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ApiError(BaseModel):
    """An error answer: `detail` says what is wrong; `errors` lists each invalid input (422)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "query.limit: Input should be less than or equal to 200",
                    "errors": [
                        {
                            "loc": ["query", "limit"],
                            "msg": "Input should be less than or equal to 200",
                            "type": "less_than_equal",
                        }
                    ],
                }
            ]
        }
    )

    detail: str
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="One entry per invalid input: `loc`, `msg`, `type`."
    )
