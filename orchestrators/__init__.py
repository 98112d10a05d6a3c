"""Blueprint of Podium's orchestrators; see README's map."""

import azure.durable_functions as df

bp = df.Blueprint()
