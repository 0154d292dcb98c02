"""streamlearn.evaluate"""
