"""Flask extensions, created unbound and bound to the app in ``create_app``."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData

from portal.infra.i18n import Catalogues

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
csrf = CSRFProtect()
i18n = Catalogues()
login_manager = LoginManager()
htmx = Htmx()

if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as _FSAModel
    from sqlalchemy import Table
    from sqlalchemy.orm import DeclarativeBase

    class Model(_FSAModel, DeclarativeBase):
        """``db.Model`` as type checkers read it: they cannot subclass an attribute."""

        __table__: ClassVar[Table]  # every model names its table (``__tablename__``)

else:
    Model = db.Model
