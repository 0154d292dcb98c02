"""streamlearn.serving"""
