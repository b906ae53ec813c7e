"""The Physical Presence Interface: page layout, operation catalogue, firmware models, OS client."""
