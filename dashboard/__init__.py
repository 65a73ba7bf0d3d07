"""dashboard: what people see: the WebSocket server, the big screen and console pages, plotly figures, authentication. It never decides dispatch: it sends commands."""
